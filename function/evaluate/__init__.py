"""`python -m function.evaluate`: offline accent and quality evaluation of model bundles.

The evaluation set (evalset: the TSV) is synthesized by every bundle variant asked for (targets)
through the speech service itself (run), and each output is scored: the service's quality signals
(function.quality), the accent distance to reference clips in the target accent (accent), and,
with a CTC speech recognizer (recognizer), the character error rate (cer). The rows become
items.csv (results), summary.json with the threshold checks (summary) and report.html with plots
(report, the only module that needs matplotlib, imported when a report is drawn).
"""
