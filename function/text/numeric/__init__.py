"""Reading rules for everything written with digits: dates, times, money, phone numbers,
percentages, fractions, ranges, ordinals, units and plain numbers.

Each rule is one compiled regex over ASCII digits (clean_unicode has already mapped Bangla and
other digits) and a small function that returns the words, in the module of its concern; rules.py
holds their one ordered table. Every pattern is anchored so that the regex engine never backtracks
over a run more than once: the whole front-end stays linear.
"""

from function.text.numeric.rules import expand_numbers

__all__ = ["expand_numbers"]
