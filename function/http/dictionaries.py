"""The request bodies of the pronunciation-dictionary routes, in ElevenLabs' shapes (its SDK sends
them); the rules themselves are checked by the service (function.text.pronunciation)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from function.http.models import Text
from function.text.pronunciation import MAX_RULES


class AddFromRules(BaseModel):
    model_config = ConfigDict(extra="ignore", title="PronunciationDictionaryFromRules")
    name: Text
    rules: list[dict[str, Any]] = Field(
        max_length=MAX_RULES, description='{"string_to_replace", "type": "alias", "alias"} objects.'
    )
    description: Text | None = None


class Rules(BaseModel):
    model_config = ConfigDict(extra="ignore", title="PronunciationDictionaryRules")
    rules: list[dict[str, Any]] = Field(max_length=MAX_RULES)


class RuleStrings(BaseModel):
    model_config = ConfigDict(extra="ignore", title="PronunciationDictionaryRuleStrings")
    rule_strings: list[Text] = Field(max_length=MAX_RULES, description="The string_to_replace of each rule.")


class Update(BaseModel):
    model_config = ConfigDict(extra="ignore", title="PronunciationDictionaryUpdate")
    name: Text | None = None
    archived: bool | None = Field(
        default=None, description="true deletes the dictionary (nothing is kept archived)."
    )


DICTIONARY_REQUESTS: tuple[type[BaseModel], ...] = (AddFromRules, Rules, RuleStrings, Update)
