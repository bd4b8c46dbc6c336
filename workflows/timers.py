"""Timer values (ISO 8601 durations, dates, cycles) checked against the centre's limits.

SpiffWorkflow takes a timer's value as it comes: "P99999999Y" makes it add up the length of
1.2 billion months one by one (a thread at full CPU), "P10000Y" or "P999999999D" overflow
Python's datetime (an OverflowError, a 500), "-P1D" raises a bare Exception, and "R/PT1S"
repeats every second for as long as the case lives. Here every value is parsed by a bounded
parser and checked against `TimerLimits` before SpiffWorkflow sees it: at lint for constant
values (`check_timer`), and at run time by our own timer event definitions, which evaluate
the expression, check the value and store the due time in the form SpiffWorkflow stores it
(so stored states keep their shape, and SpiffWorkflow only ever reads a normalized UTC time).
A value out of range at run time raises WorkflowFault(code="timer") naming the element.

A date in the past is allowed: it fires once, at once (BPMN's meaning, and what a date
computed from case data needs when the case reaches the timer late); it cannot spin. The lint
only warns about a constant date that is already past.
"""

from __future__ import annotations

import ast
import calendar
import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    LOCALTZ,
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.bpmn.util import PendingBpmnEvent
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaIntermediateCatchEventParser,
    CamundaIntermediateThrowEventParser,
    CamundaStartEventParser,
)

from .errors import OneWindowError, WorkflowFault
from .i18n import _

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
KINDS = ("timeDate", "timeDuration", "timeCycle")


@dataclass(frozen=True)
class TimerLimits:
    """The range every timer value must fall in.

    A licensing centre's timers are statutory periods (a public notice of 7 days, a time
    limit of 20 working days, a few months at most), reminders (hours, days) and the renewal
    of a certificate (years): nothing shorter than a minute, nothing beyond 5 years. A cycle
    is a reminder repeated a bounded number of times, never more often than hourly.
    """

    min_duration: dt.timedelta = dt.timedelta(minutes=1)
    horizon_years: int = 5
    max_repetitions: int = 100
    min_period: dt.timedelta = dt.timedelta(hours=1)
    max_length: int = 100  # characters of one value

    def horizon(self, now: dt.datetime) -> dt.datetime:
        """Return the latest due time allowed for a timer set at now."""
        return add_months(now, 12 * self.horizon_years)

    @property
    def duration_range(self) -> str:
        """Describe the durations allowed."""
        return _(
            'a duration from %(shortest)s to %(years)s years, such as "PT1H", "P3D" or "P1Y"',
            shortest=_human(self.min_duration),
            years=self.horizon_years,
        )

    @property
    def date_range(self) -> str:
        """Describe the dates allowed."""
        return _(
            'a date and time at most %(years)s years ahead, such as "2027-03-01T09:00:00+08:00"',
            years=self.horizon_years,
        )

    @property
    def cycle_range(self) -> str:
        """Describe the cycles allowed."""
        return _(
            '"R<n>/<duration>" (or "R<n>/<start>/<duration>") repeated 1 to %(most)s times, at '
            'least %(period)s apart, the last within %(years)s years, such as "R3/PT2H"',
            most=self.max_repetitions,
            period=_human(self.min_period),
            years=self.horizon_years,
        )

    def allowed(self, kind: str) -> str:
        """Describe the values allowed for a timeDate, timeDuration or timeCycle."""
        return {
            "timeDate": self.date_range,
            "timeDuration": self.duration_range,
            "timeCycle": self.cycle_range,
        }[kind]


LIMITS = TimerLimits()


class _Later:
    """A message worded only when it is shown: checking a value that is fine (every timer at
    every step) then costs no translation. `str()` words it, in the reader's language."""

    __slots__ = ("_word",)

    def __init__(self, word: Callable[[], str]) -> None:
        self._word = word

    def __str__(self) -> str:
        return str(self._word())


class TimerValueError(OneWindowError):
    """A timer value is malformed or outside the allowed range."""

    def __init__(self, reason: str | _Later, allowed: str | _Later) -> None:
        reason, allowed = str(reason), str(allowed)
        super().__init__(_("%(reason)s; allowed: %(allowed)s", reason=reason, allowed=allowed))
        self.reason = reason
        self.allowed = allowed


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    units = (
        (86400, lambda n: _("%(n)s day", n=n) if n == 1 else _("%(n)s days", n=n)),
        (3600, lambda n: _("%(n)s hour", n=n) if n == 1 else _("%(n)s hours", n=n)),
        (60, lambda n: _("%(n)s minute", n=n) if n == 1 else _("%(n)s minutes", n=n)),
        (1, lambda n: _("%(n)s second", n=n) if n == 1 else _("%(n)s seconds", n=n)),
    )
    for size, words in units:
        if seconds % size == 0 and seconds >= size:
            return words(seconds // size)
    return _("%(n)s seconds", n=delta.total_seconds())


def _shown(value: Any, limit: int = 60) -> str:
    text = str(value)
    return f'"{text}"' if len(text) <= limit else f'"{text[: limit - 1]}…"'


def utc_now() -> dt.datetime:
    """Return the current UTC time from the clock SpiffWorkflow compares due times with."""
    return spiff_timer.datetime.now(dt.UTC)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """Add calendar months; a day the month lacks becomes its last (31 Jan + 1 month: 28 Feb)."""
    years, month_index = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + years, month_index + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


# --- durations -------------------------------------------------------------------------------

_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?=\d)(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?",
    re.ASCII | re.IGNORECASE,
)
_SECONDS_PER = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration as calendar months plus an exact number of seconds."""

    text: str
    months: int
    seconds: Fraction

    def after(self, start: dt.datetime) -> dt.datetime:
        """Return the moment this duration after start (months by the calendar)."""
        return add_months(start, self.months) + dt.timedelta(seconds=float(self.seconds))

    def before(self, end: dt.datetime) -> dt.datetime:
        """Return the moment this duration before end (months by the calendar)."""
        return add_months(end, -self.months) - dt.timedelta(seconds=float(self.seconds))


def _text(value: Any, kind: str, limits: TimerLimits) -> str:
    allowed = _Later(lambda: limits.allowed(kind))
    if not isinstance(value, str):
        raise TimerValueError(
            _(
                "the value %(shown)s (%(type_name)s) is not text",
                shown=_shown(value),
                type_name=type(value).__name__,
            ),
            allowed,
        )
    text = value.strip()
    if len(text) > limits.max_length:
        raise TimerValueError(
            _(
                "%(shown)s is %(count)s characters long, more than %(max_length)s",
                shown=_shown(text),
                count=len(text),
                max_length=limits.max_length,
            ),
            allowed,
        )
    if not text:
        raise TimerValueError(_("the value is empty"), allowed)
    return text


def _syntax(text: str) -> tuple[int, Fraction]:
    """Read a duration's months and seconds, or raise ValueError; numbers stay exact."""
    if text.startswith(("-", "+")):
        raise ValueError("signed")
    match = _DURATION.fullmatch(text)
    parts = {k: v for k, v in match.groupdict().items() if v is not None} if match else {}
    if not parts:
        raise ValueError("syntax")
    last = list(parts)[-1]
    if any(("." in v or "," in v) for k, v in parts.items() if k != last):
        raise ValueError("fraction")  # only the smallest unit given may have a fraction
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    seconds = sum(
        (
            Fraction(parts[k].replace(",", ".")) * size
            for k, size in _SECONDS_PER.items()
            if k in parts
        ),
        Fraction(0),
    )
    return months, seconds


def _parse_duration(
    text: str, start: dt.datetime, latest: dt.datetime, minimum: dt.timedelta, reasons: dict
) -> Duration:
    """Parse a duration lasting at least minimum that, counted from start, ends by latest."""
    allowed = reasons["allowed"]
    try:
        months, seconds = _syntax(text)
    except ValueError as exc:
        if str(exc) == "signed":
            sign = _("is negative") if text[0] == "-" else _("has a sign")
            raise TimerValueError(
                _(
                    "%(shown)s %(sign)s",
                    shown=_shown(text),
                    sign=sign,
                ),
                allowed,
            ) from None
        raise TimerValueError(
            _(
                "%(shown)s is not an ISO 8601 duration",
                shown=_shown(text),
            ),
            allowed,
        ) from None
    if months == 0 and seconds == 0:
        raise TimerValueError(_("%(shown)s is zero", shown=_shown(text)), allowed)
    if months == 0 and seconds < Fraction(int(minimum.total_seconds())):
        raise TimerValueError(reasons["short"], allowed)
    # Exact numbers are compared before any datetime is built: nothing can overflow or loop.
    most_months = (latest.year - start.year) * 12 + latest.month - start.month
    if months > most_months or add_months(start, months) > latest:
        raise TimerValueError(reasons["long"], allowed)
    left = latest - add_months(start, months)
    if seconds > Fraction(left.days * 86400 + left.seconds):
        raise TimerValueError(reasons["long"], allowed)
    return Duration(text, months, seconds)


def parse_duration(
    value: Any, now: dt.datetime | None = None, limits: TimerLimits = LIMITS
) -> Duration:
    """Parse a timeDuration value and check it lasts from the minimum to the horizon."""
    text = _text(value, "timeDuration", limits)
    now = now or utc_now()
    reasons = {
        "allowed": _Later(lambda: limits.duration_range),
        "short": _Later(lambda: _(
            "%(shown)s is shorter than %(shortest)s",
            shown=_shown(text),
            shortest=_human(limits.min_duration),
        )),
        "long": _Later(lambda: _(
            "%(shown)s is longer than %(years)s years",
            shown=_shown(text),
            years=limits.horizon_years,
        )),
    }  # fmt: skip
    return _parse_duration(text, now, limits.horizon(now), limits.min_duration, reasons)


# --- dates -----------------------------------------------------------------------------------

_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)


def _read_date(text: str, allowed: str | _Later) -> dt.datetime:
    """Read an ISO 8601 date or date-time as an aware UTC time; without offset, local time."""
    if not _DATE.fullmatch(text):
        raise TimerValueError(
            _(
                "%(shown)s is not an ISO 8601 date or date and time",
                shown=_shown(text),
            ),
            allowed,
        )
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:  # as SpiffWorkflow reads it: the server's local time
            moment = moment.replace(tzinfo=LOCALTZ)
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise TimerValueError(
            _(
                "%(shown)s is not a valid date: %(exc)s",
                shown=_shown(text),
                exc=exc,
            ),
            allowed,
        ) from None


def parse_date(
    value: Any, now: dt.datetime | None = None, limits: TimerLimits = LIMITS
) -> dt.datetime:
    """Parse a timeDate value (text or datetime) and check it is not beyond the horizon."""
    allowed = _Later(lambda: limits.date_range)
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    moment = _read_date(_text(value, "timeDate", limits), allowed)
    now = now or utc_now()
    if moment > limits.horizon(now):
        raise TimerValueError(
            _(
                "%(shown)s is more than %(horizon_years)s years ahead",
                shown=_shown(value),
                horizon_years=limits.horizon_years,
            ),
            allowed,
        )
    return moment


# --- cycles ----------------------------------------------------------------------------------

_CYCLE = re.compile(r"R(?P<count>[^/]*)/(?P<first>[^/]+)(?:/(?P<second>[^/]+))?", re.ASCII | re.I)


@dataclass(frozen=True)
class Cycle:
    """A repeating timer: how many times, the first due time and the period between them."""

    count: int
    first: dt.datetime
    period: dt.timedelta

    def event_value(self) -> dict:
        """Return the cycle as SpiffWorkflow keeps it in the task's internal data."""
        return {
            "cycles": self.count,
            "next": self.first.isoformat(),
            "duration": self.period.total_seconds(),
        }


def _is_duration(part: str) -> bool:
    return part.lstrip("+-")[:1].upper() == "P"


# Long: the forms of ISO 8601 repeating intervals (R<n>/<start>/<period>, R<n>/<period>,
# R<n>/<period>/<end>) checked in turn, each refusal with its own message.
def parse_cycle(value: Any, now: dt.datetime | None = None, limits: TimerLimits = LIMITS) -> Cycle:
    """Parse a timeCycle value and check its count, its period and its last due time."""
    allowed = _Later(lambda: limits.cycle_range)
    text = _text(value, "timeCycle", limits)
    now = now or utc_now()
    horizon = limits.horizon(now)
    match = _CYCLE.fullmatch(text)
    if not match:
        raise TimerValueError(
            _(
                "%(shown)s is not an ISO 8601 repeating interval",
                shown=_shown(text),
            ),
            allowed,
        )
    count_text, first, second = match.group("count", "first", "second")
    if not count_text:
        raise TimerValueError(
            _(
                "%(shown)s repeats without end (no count after R)",
                shown=_shown(text),
            ),
            allowed,
        )
    if not count_text.isdigit() or len(count_text) > 9:
        raise TimerValueError(
            _(
                "%(shown)s has no valid repetition count",
                shown=_shown(text),
            ),
            allowed,
        )
    count = int(count_text)
    if not 1 <= count <= limits.max_repetitions:
        raise TimerValueError(
            _(
                "%(shown)s repeats %(count)s times, not 1 to %(max_repetitions)s",
                shown=_shown(text),
                count=count,
                max_repetitions=limits.max_repetitions,
            ),
            allowed,
        )
    if second is None and not _is_duration(first):
        raise TimerValueError(_("%(shown)s has no period", shown=_shown(text)), allowed)
    if second is not None and _is_duration(first) == _is_duration(second):
        raise TimerValueError(
            _(
                "%(shown)s needs one start or end date and one period",
                shown=_shown(text),
            ),
            allowed,
        )
    reasons = {
        "allowed": allowed,
        "short": _Later(lambda: _(
            "%(shown)s repeats more often than every %(period)s",
            shown=_shown(text),
            period=_human(limits.min_period),
        )),
        "long": _Later(lambda: _(
            "the period of %(shown)s is longer than %(years)s years",
            shown=_shown(text),
            years=limits.horizon_years,
        )),
    }  # fmt: skip
    period_text = first if _is_duration(first) else second
    # The period is measured from now, the start or (counted back) the end, as SpiffWorkflow does.
    duration = _parse_duration(period_text, now, horizon, limits.min_period, reasons)
    if second is None:  # the first repetition one period from now
        first_due = duration.after(now)
        period = first_due - now
    elif _is_duration(first):  # period/end: the first repetition one period before the end
        end = _read_date(second, allowed)
        if end > horizon:
            raise TimerValueError(
                _(
                    "%(shown)s ends more than %(horizon_years)s years ahead",
                    shown=_shown(text),
                    horizon_years=limits.horizon_years,
                ),
                allowed,
            )
        try:
            first_due = duration.before(end)
        except (ValueError, OverflowError):
            raise TimerValueError(
                _(
                    "%(shown)s starts before the year 1",
                    shown=_shown(text),
                ),
                allowed,
            ) from None
        period = end - first_due
    else:  # start/period: the first repetition at the start
        first_due = _read_date(first, allowed)
        if first_due > horizon:
            raise TimerValueError(
                _(
                    "%(shown)s starts more than %(horizon_years)s years ahead",
                    shown=_shown(text),
                    horizon_years=limits.horizon_years,
                ),
                allowed,
            )
        period = duration.after(first_due) - first_due
    if period < limits.min_period:
        raise TimerValueError(reasons["short"], allowed)
    if period * (count - 1) > horizon - first_due:
        raise TimerValueError(
            _(
                "the last of the %(count)s repetitions of %(shown)s falls more than "
                "%(horizon_years)s years ahead",
                count=count,
                shown=_shown(text),
                horizon_years=limits.horizon_years,
            ),
            allowed,
        )
    return Cycle(count, first_due, period)


# --- one entry point for lint and run time ---------------------------------------------------


def check_timer(
    kind: str, value: Any, now: dt.datetime | None = None, limits: TimerLimits = LIMITS
) -> str | dict:
    """Check a timeDate, timeDuration or timeCycle value; return what SpiffWorkflow stores."""
    now = now or utc_now()
    if kind == "timeDate":
        return parse_date(value, now, limits).isoformat()
    if kind == "timeDuration":
        return parse_duration(value, now, limits).after(now).isoformat()
    if kind == "timeCycle":
        return parse_cycle(value, now, limits).event_value()
    raise ValueError(f"unknown timer kind {kind!r}")


def check_stored(
    kind: str, stored: Any, now: dt.datetime | None = None, limits: TimerLimits = LIMITS
) -> str | dict:
    """Check a timer's stored event value (a due time, or a cycle's state); return it normalized."""
    now = now or utc_now()
    if kind != "timeCycle":
        return parse_date(stored, now, limits).isoformat()
    allowed = _Later(lambda: limits.cycle_range)
    if not isinstance(stored, dict) or set(stored) != {"cycles", "next", "duration"}:
        raise TimerValueError(
            _(
                "the stored cycle %(shown)s is malformed",
                shown=_shown(stored),
            ),
            allowed,
        )
    cycles, period = stored["cycles"], stored["duration"]
    if type(cycles) is not int or not 0 <= cycles <= limits.max_repetitions:
        reason = _("without end") if cycles == -1 else _("%(n)s more times", n=_shown(cycles))
        raise TimerValueError(_("the stored cycle repeats %(reason)s", reason=reason), allowed)
    longest = (limits.horizon(now) - now).total_seconds()
    if (
        type(period) not in (int, float)
        or not math.isfinite(period)
        or not limits.min_period.total_seconds() <= period <= longest
    ):
        raise TimerValueError(
            _(
                "the stored cycle repeats every %(shown)s seconds",
                shown=_shown(period),
            ),
            allowed,
        )
    return {
        "cycles": cycles,
        "next": parse_date(stored["next"], now, limits).isoformat(),
        "duration": float(period),
    }


def constant_string(expression: str) -> str | None:
    """Return the string an expression is a literal of ("\\"P3D\\"" gives P3D), else None."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    body = tree.body
    return body.value if isinstance(body, ast.Constant) and isinstance(body.value, str) else None


# --- SpiffWorkflow event definitions ---------------------------------------------------------


def _fault(definition: Any, task: Any, value: Any, exc: TimerValueError) -> WorkflowFault:
    element = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
    shown = "" if _shown(value) in exc.reason else f" (value {_shown(value)})"
    return WorkflowFault(
        message=_(
            "timer '%(element)s' is refused%(shown)s: %(message)s",
            element=element,
            shown=shown,
            message=exc.message,
        ),
        task_spec=element,
        code="timer",
        elements=(element,),
        cause=exc.reason,
    )


class _CheckedTimer:
    """Evaluate, check and store a timer's value before SpiffWorkflow reads it."""

    kind = ""
    spiff_name = ""
    expression: str
    name: str

    def _checked_value(self, task: Any) -> str | dict:
        stored = task._get_internal_data("event_value")
        now = utc_now()
        if stored is None:
            value = task.workflow.script_engine.evaluate(task, self.expression)
            try:
                checked = check_timer(self.kind, value, now)
            except TimerValueError as exc:
                raise _fault(self, task, value, exc) from None
        else:
            try:
                checked = check_stored(self.kind, stored, now)
            except TimerValueError as exc:
                raise _fault(self, task, stored, exc) from None
        task._set_internal_data(event_value=checked)
        return checked

    def details(self, my_task: Any) -> PendingBpmnEvent:
        """Return the pending event with its checked, normalized due time."""
        stored = my_task._get_internal_data("event_value")
        if stored is not None:
            try:
                stored = check_stored(self.kind, stored)
            except TimerValueError as exc:
                raise _fault(self, my_task, stored, exc) from None
            if isinstance(stored, dict):
                stored = stored["next"]
        return PendingBpmnEvent(self.name, self.spiff_name, stored)


class CheckedTimeDate(_CheckedTimer, TimeDateEventDefinition):
    """A timeDate timer whose value is checked against the limits first."""

    kind = "timeDate"
    spiff_name = "TimeDateEventDefinition"

    def has_fired(self, my_task: Any) -> bool:
        """Check the value, then let SpiffWorkflow compare it with the clock."""
        self._checked_value(my_task)
        return super().has_fired(my_task)


class CheckedDuration(_CheckedTimer, DurationTimerEventDefinition):
    """A timeDuration timer whose value is checked against the limits first."""

    kind = "timeDuration"
    spiff_name = "DurationTimerEventDefinition"

    def has_fired(self, my_task: Any) -> bool:
        """Check the value, then let SpiffWorkflow compare it with the clock."""
        self._checked_value(my_task)
        return super().has_fired(my_task)


class CheckedCycle(_CheckedTimer, CycleTimerEventDefinition):
    """A timeCycle timer whose value is checked against the limits first."""

    kind = "timeCycle"
    spiff_name = "CycleTimerEventDefinition"

    def cycle_complete(self, my_task: Any) -> bool:
        """Check the value, then let SpiffWorkflow count the repetition."""
        self._checked_value(my_task)
        return super().cycle_complete(my_task)


CHECKED_TIMERS = {
    "timeDate": CheckedTimeDate,
    "timeDuration": CheckedDuration,
    "timeCycle": CheckedCycle,
}


# --- parser and serializer -------------------------------------------------------------------


class _CheckedTimerParsing:
    """Build OneWindow's checked timer definitions from a timerEventDefinition."""

    def parse_timer_event(self, event: Any) -> _CheckedTimer:
        """Return the checked definition for the event's timeDate, timeDuration or timeCycle."""
        name = self.node.get("name", self.node.get("id"))
        for kind, definition in CHECKED_TIMERS.items():
            found = event.find(f"{{{BPMN_NS}}}{kind}")
            if found is not None:
                return definition(name, found.text, description=self.get_event_description(event))
        self.raise_validation_exception("timer has no timeDate, timeDuration or timeCycle")


class _StartEventParser(_CheckedTimerParsing, CamundaStartEventParser):
    pass


class _CatchEventParser(_CheckedTimerParsing, CamundaIntermediateCatchEventParser):
    pass


class _ThrowEventParser(_CheckedTimerParsing, CamundaIntermediateThrowEventParser):
    pass


class _BoundaryEventParser(_CheckedTimerParsing, CamundaBoundaryEventParser):
    pass


def _with_checked_timers(classes: dict) -> dict:
    """Return a parser class map whose timer-carrying events build checked timers."""
    ours = {
        "startEvent": _StartEventParser,
        "intermediateCatchEvent": _CatchEventParser,
        "intermediateThrowEvent": _ThrowEventParser,
        "boundaryEvent": _BoundaryEventParser,
    }
    merged = dict(classes)
    for tag, parser in ours.items():
        merged[full_tag(tag)] = (parser, classes[full_tag(tag)][1])
    return merged


class CheckedTimerParser(CamundaParser):
    """SpiffWorkflow's Camunda parser, building checked timer definitions."""

    OVERRIDE_PARSER_CLASSES = _with_checked_timers(CamundaParser.OVERRIDE_PARSER_CLASSES)


def make_parser() -> CheckedTimerParser:
    """Return a BPMN parser whose timers are checked against the limits."""
    return CheckedTimerParser()


class _TimerConverter(TimerConditionalEventDefinitionConverter):
    """Serialize a checked timer under SpiffWorkflow's own name, so stored states keep it."""

    def __init__(self, target_class: type, registry: Any, typename: str | None = None) -> None:
        super().__init__(target_class, registry, typename or target_class.spiff_name)


def timer_converters() -> dict[type, type]:
    """Return serializer config entries; add them after SpiffWorkflow's so ours restore."""
    return {definition: _TimerConverter for definition in CHECKED_TIMERS.values()}
