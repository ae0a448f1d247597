"""Vendor layouts as data: ``config/profiles/*.yml`` loaded, validated and detected.

A profile describes one export layout: how a file is recognised (a header signature and,
optionally, a file-name pattern), which column holds which canonical field, how values
are translated (grades such as "Two", windows such as "BOY" or "Fall 2021-2022"), how a
wide file (one block of columns per window) becomes long, which columns are PII, and the
measures it carries. A new layout is a new YAML file; this module has no vendor names in
it. See ``config/profiles/README.md`` for the keys.

A file's layout is detected by its header (:func:`detect_profile`); applying a profile
to a file's text is :mod:`pipeline.ingest.mapping`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from pipeline.config import DistrictConfig, read_yaml_mapping
from pipeline.contract import CANONICAL, STUDENTS
from pipeline.errors import ConfigError, InputError

DEFAULT_PROFILES_DIR = Path("config") / "profiles"
ROSTER_FIELDS = STUDENTS.columns


class ProfileError(ConfigError):
    """A profile file (or the profiles folder) is unreadable or invalid: ``file`` and
    ``why`` (which names the key)."""

    def __init__(self, file: Path | str, why: str):
        self.file, self.why = str(file), why
        super().__init__(f"{self.file}: {why}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """Where a canonical field's value comes from, and how it is translated.

    A bare string in YAML is shorthand for ``{column: ...}``. In wide layouts a column
    name may contain ``{window}``, replaced by each block's label ("Fall", "Winter" ...).
    """

    column: str | None = None
    value: Any = None  # a constant for every row
    pattern: str | None = None  # regular expression; its first group (or match) is kept
    format: str | list[str] | None = None  # date format(s), strptime style
    map: dict[str, Any] = {}  # raw value (or glob such as "Fall*") -> canonical value
    split_name: Literal["first", "last"] | None = None  # "Last, First" or "First Last"
    slug: bool = False  # "North Elementary" -> "north-elementary" (ids from names)
    clip: tuple[float, float] | None = None  # e.g. [1, 99] for a vendor's 0 and 100

    @model_validator(mode="after")
    def _source(self) -> FieldSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of `column` or `value`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(
                    f"pattern {self.pattern!r} is not a regular expression: {err}"
                ) from err
        return self


def _spec(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


class MeasureRule(_Strict):
    """One measure a layout carries: its canonical name and its value columns.

    ``when`` restricts the rule to rows whose columns match glob patterns (e.g.
    ``{Subject: Mathematics}``); a rule with ``skip`` marks matching rows as out of
    scope, with that reason, instead of reading them. A row a rule with ``when`` reads
    is not offered to later rules, unless the rule says ``claim: false`` (a sub-score
    read beside the row's main score, such as a MAP Growth goal).
    """

    measure: str | FieldSpec | None = None
    when: dict[str, str | list[str]] = {}
    skip: str | None = None
    subject: Literal["reading", "math", "behavior"] | None = None
    optional: bool = False  # True: an all-empty block is no record (not a missing score)
    claim: bool = True  # False: the rows it reads stay open to the rules after it
    score: FieldSpec | None = None
    percentile: FieldSpec | None = None
    vendor_level: FieldSpec | None = None
    date: FieldSpec | None = None

    @field_validator("score", "percentile", "vendor_level", "date", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _spec(value)

    @field_validator("measure", mode="before")
    @classmethod
    def _measure(cls, value: Any) -> Any:
        return value if isinstance(value, str | None) else _spec(value)

    @model_validator(mode="after")
    def _complete(self) -> MeasureRule:
        if self.skip is None and (self.measure is None or self.score is None):
            raise ValueError("a measure rule needs `measure` and `score` (or `skip: reason`)")
        return self


class Detect(_Strict):
    headers: list[str]
    file_pattern: str | None = None

    @field_validator("headers")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one header that identifies the layout")
        return value


class Profile(_Strict):
    """One export layout (one ``config/profiles/*.yml`` file)."""

    name: str
    label: str
    table: Literal["students", "screenings", "interventions", "progress"]
    vendor: str | None = None
    documentation: str | None = None
    detect: Detect
    date_format: str | list[str] = "%Y-%m-%d"
    decimal: Literal[".", ","] = "."  # "," where the export writes 12,5 for twelve and a half
    missing_values: list[str] = []
    skip_values: dict[str, str] = {}  # vendor token -> reason, for a fact with no score
    pii: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    fields: dict[str, FieldSpec]
    wide: dict[Literal["fall", "winter", "spring"], str] | None = None
    measures: list[MeasureRule] = []
    unmatched: Literal["quarantine", "skip"] = "quarantine"
    path: str = ""

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _spec(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _known_fields(self) -> Profile:
        table = CANONICAL[self.table]
        allowed = set(table.columns) | (set(ROSTER_FIELDS) if self.table != "students" else set())
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise ValueError(
                f"fields: {', '.join(unknown)} not a column of the {self.table} table "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if self.table in ("screenings", "progress") and not self.measures:
            missing = [f for f in ("measure", "score") if f not in self.fields]
            if missing:
                raise ValueError(f"fields: map {', '.join(missing)} or list `measures`")
        if "student_id" not in self.fields:
            raise ValueError("fields: student_id must be mapped")
        if self.wide and not self.measures:
            raise ValueError("wide: a wide layout needs `measures` with {window} columns")
        return self

    @property
    def date_formats(self) -> list[str]:
        return [self.date_format] if isinstance(self.date_format, str) else self.date_format

    def feeds_roster(self) -> bool:
        """Whether the layout carries roster columns (so it can add students)."""
        return self.table != "students" and any(
            f in self.fields for f in ("grade", "school_id", "school_name")
        )


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{key}: {error['msg']}"


def _without_file(message: str, path: Path) -> str:
    """The YAML reader's message names the file first; the error keeps the two apart."""
    return message.removeprefix(f"{path}: ")


def load_profile(path: Path | str, config: DistrictConfig | None = None) -> Profile:
    """Load and validate one profile file; measures must exist in ``config``."""
    path = Path(path)
    raw = read_yaml_mapping(path, lambda message: ProfileError(path, _without_file(message, path)))
    raw.setdefault("name", path.stem)
    raw["path"] = str(path)
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as err:
        lines = "\n  ".join(_describe(e) for e in err.errors())
        raise ProfileError(path, f"invalid profile\n  {lines}") from err
    if config is not None:
        for k, rule in enumerate(profile.measures):
            if isinstance(rule.measure, str) and rule.measure not in config.measures:
                raise ProfileError(
                    path,
                    f"measures.{k}.measure: {rule.measure!r} is not a measure in "
                    "district.yml (add it under `measures:` with its valid score range)",
                )
    return profile


def load_profiles(
    directory: Path | str = DEFAULT_PROFILES_DIR, config: DistrictConfig | None = None
) -> dict[str, Profile]:
    """Every ``*.yml`` profile in ``directory``, by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProfileError(directory, "no profiles folder")
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.yml")) + sorted(directory.glob("*.yaml")):
        profile = load_profile(path, config)
        if profile.name in profiles:
            raise ProfileError(
                path, f"profile name {profile.name!r} is also used by {profiles[profile.name].path}"
            )
        profiles[profile.name] = profile
    if not profiles:
        raise ProfileError(directory, "no *.yml profiles")
    return profiles


# --------------------------------------------------------------------------- detection


def normalise_header(name: object) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


@dataclass(frozen=True)
class Candidate:
    profile: Profile
    missing: tuple[str, ...]

    @property
    def share(self) -> float:
        total = len(self.profile.detect.headers)
        return (total - len(self.missing)) / total


class DetectionError(InputError):
    """No profile, or more than one, fits a file's header: names the closest profiles
    (``candidates``) and the columns each is missing."""

    def __init__(self, file: Path | str, problem: str, candidates: list[Candidate]):
        self.problem, self.candidates = problem, candidates
        closest = (
            "; ".join(
                f"{c.profile.name} ({c.profile.label}) missing "
                + (", ".join(repr(m) for m in c.missing) or "nothing")
                for c in candidates
            )
            or "none"
        )
        # One line, as every input error: the closest profiles and what each misses.
        super().__init__(
            file,
            f"{problem}; closest: {closest}. Name the profile with --profile, or add a "
            "profile for this layout to config/profiles/ (see config/profiles/README.md).",
        )


def candidates_for(headers: list[str], profiles: dict[str, Profile]) -> list[Candidate]:
    """Every profile with the signature columns it misses, best fit first."""
    present = {normalise_header(h) for h in headers}
    found = [
        Candidate(p, tuple(h for h in p.detect.headers if normalise_header(h) not in present))
        for p in profiles.values()
    ]
    return sorted(found, key=lambda c: (len(c.missing) > 0, -c.share, c.profile.name))


def detect_profile(file: Path | str, headers: list[str], profiles: dict[str, Profile]) -> Profile:
    """The one profile whose header signature the file has.

    Several fitting profiles are separated by their file-name pattern, then by the most
    specific (longest) signature; a tie is ambiguous. No fit, or a tie, raises
    :class:`DetectionError` naming the closest profiles and the columns each is missing.
    """
    file_name = Path(file).name
    ranked = candidates_for(headers, profiles)
    fits = [c for c in ranked if not c.missing]
    if not fits:
        raise DetectionError(file, "unknown layout: no profile fits its header", ranked[:3])
    if len(fits) > 1:
        by_name = [
            c
            for c in fits
            if c.profile.detect.file_pattern
            and fnmatch.fnmatch(file_name.lower(), c.profile.detect.file_pattern.lower())
        ]
        fits = by_name or fits
    if len(fits) > 1:
        longest = max(len(c.profile.detect.headers) for c in fits)
        fits = [c for c in fits if len(c.profile.detect.headers) == longest]
    if len(fits) > 1:
        raise DetectionError(file, "ambiguous layout: several profiles fit", fits)
    return fits[0].profile


def profile_summary(profile: Profile) -> str:
    """One line naming the layout, its table, its shape and its measures."""
    kind = "wide (one block per window)" if profile.wide else "long"
    measures = sorted({r.measure for r in profile.measures if isinstance(r.measure, str)})
    return (
        f"{profile.name}: {profile.label} -> {profile.table} ({kind}"
        + (f"; measures: {', '.join(measures)}" if measures else "")
        + ")"
    )
