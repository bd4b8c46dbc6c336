"""WTForms classes for the fixed forms; diagram and item forms are built from their fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from ..org.models import ABSENCE_KINDS, ROLES


def choices(pairs) -> list[SelectChoice]:
    """Return (value, label) pairs as WTForms select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class LanguageForm(FlaskForm):
    lang = StringField(validators=[DataRequired(), Length(max=5)])


class CompleteForm(FlaskForm):
    """Outcome and comment; the diagram's own fields are read from the request as f_<id>."""

    outcome = StringField(validators=[DataRequired(), Length(max=16)])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


class TransferForm(FlaskForm):
    to_user = SelectField(_l("Transfer to"), coerce=int, validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=140)])


class ClaimForm(FlaskForm):
    """Only the CSRF token."""


class SupplementForm(FlaskForm):
    """Materials are read from the request as a list of codes."""


class ConfirmedForm(FlaskForm):
    """A decisive action's form (refuse, withdraw, close): its box must be ticked, so a stray
    click or a form sent again does nothing. Without JavaScript the user ticks it; with it,
    the page's script asks and ticks it on yes (app/static/confirm.js)."""

    confirm = BooleanField(_l("I have checked this and confirm it"), validators=[DataRequired()])


class RefuseForm(ConfirmedForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    legal_basis = StringField(_l("Legal basis"), validators=[DataRequired(), Length(max=500)])


class WithdrawForm(ConfirmedForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class CloseForm(ConfirmedForm):
    """How a decided case's result was delivered (办结送达); checked by the service."""

    method = SelectField(_l("Delivered by"), validators=[DataRequired()])
    recipient = StringField(_l("Delivered to"), validators=[DataRequired(), Length(max=100)])
    tracking_no = StringField(_l("Tracking number (by post)"),
                              validators=[Optional(), Length(max=40)])  # fmt: skip
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ReceiveForm(FlaskForm):
    """Applicant data; materials and the item's form fields are read from the request."""

    applicant_name = StringField(_l("Applicant"), validators=[DataRequired(), Length(max=200)])
    applicant_id_number = StringField(
        _l("ID number (or unified social credit code)"),
        validators=[DataRequired(), Length(min=6, max=40)],
    )
    applicant_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    decision = SelectField(
        _l("Decision at the window"),
        choices=choices(
            [
                ("accept", _l("Accept (or ask for the missing materials)")),
                ("refuse", _l("Refuse: not within this centre's remit or not a licensing matter")),
            ]
        ),
        default="accept",
    )
    refuse_reason = TextAreaField(_l("Reason for refusal"), validators=[Length(max=2000)])
    refuse_basis = StringField(_l("Legal basis of refusal"), validators=[Length(max=500)])


class AbsenceForm(FlaskForm):
    user_id = SelectField(_l("Who"), coerce=int)
    kind = SelectField(
        _l("Kind"),
        choices=choices((k, k) for k in ABSENCE_KINDS),
        validators=[DataRequired()],
    )
    starts_at = DateTimeLocalField(_l("From"), validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Until"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])
    confirm = BooleanField(_l("I am the post's leader and confirm A and B away together"))


class DepartmentForm(FlaskForm):
    code = StringField(
        _l("Code"), validators=[DataRequired(), Length(max=64), Regexp(r"^[a-z0-9_]+$")]
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=choices(
            (k, k) for k in ("centre", "government", "bureau", "agency", "section", "supervision")
        ),
    )
    parent_id = SelectField(_l("Part of"), coerce=int, validators=[Optional()])
    number_prefix = StringField(
        _l("Prefix of its decision numbers (机关代字)"), validators=[Optional(), Length(max=40)]
    )
    seal_text = StringField(_l("Words of its seal"), validators=[Optional(), Length(max=40)])


class UserForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(max=64), Regexp(r"^[a-z0-9_.]+$")],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    roles = SelectMultipleField(
        _l("Roles"), choices=choices((r, r) for r in ROLES if r != "applicant")
    )
    department_id = SelectField(_l("Department"), coerce=int, validators=[Optional()])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    id_number = StringField(_l("ID number"), validators=[Optional(), Length(max=30)])
    password = PasswordField(
        _l("New password (leave empty to keep)"), validators=[Optional(), Length(min=8, max=200)]
    )
    active = BooleanField(_l("Active"), default=True)


class PostForm(FlaskForm):
    code = StringField(
        _l("Code"), validators=[DataRequired(), Length(max=64), Regexp(r"^[a-z0-9_]+$")]
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    department_id = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])
    a_user_id = SelectField(_l("A (first handler)"), coerce=int, validators=[Optional()])
    b_user_id = SelectField(_l("B (second handler)"), coerce=int, validators=[Optional()])
    leader_user_id = SelectField(_l("Leader"), coerce=int, validators=[Optional()])
    return_to_a = BooleanField(_l("When A returns, tasks B has not started go back to A"))
    shared = BooleanField(_l("Shared: any holder claims a task (any-one-of)"))


class PauseForm(FlaskForm):
    kind = SelectField(_l("Why the clock stops"), validators=[DataRequired()])
    reason = StringField(_l("Reason told to the applicant"),
                         validators=[DataRequired(), Length(max=500)])  # fmt: skip
    expected_days = IntegerField(
        _l("Expected working days"), validators=[DataRequired(), NumberRange(min=1, max=365)]
    )


class ExtendForm(FlaskForm):
    days = IntegerField(_l("Extra working days"), validators=[DataRequired(), NumberRange(1, 30)])
    reason = StringField(_l("Reason told to the applicant"),
                         validators=[DataRequired(), Length(max=500)])  # fmt: skip


class UrgeForm(FlaskForm):
    text = StringField(_l("Urging notice"), validators=[DataRequired(), Length(max=500)])


class OpinionForm(FlaskForm):
    """The supervision office's opinion: checked by the service (empty, too long), which
    says what is wrong."""

    text = TextAreaField(_l("Opinion of the supervision office"))


class PersonalDataForm(FlaskForm):
    purpose = StringField(_l("Why you need the full numbers"),
                          validators=[DataRequired(), Length(max=200)])  # fmt: skip


class YearForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(2000, 2100)])
    source = StringField(_l("Source (State Council notice)"),
                         validators=[DataRequired(), Length(max=300)])  # fmt: skip
    holidays = TextAreaField(_l("Holidays, one per line: 2027-01-01 元旦 or a range "
                                "2027-02-10..2027-02-16 春节"))  # fmt: skip
    workdays = TextAreaField(_l("Make-up working days (调休上班), one per line"))


def item_fields(item) -> list[dict]:
    """Return an item's application form fields with options as (value, label) pairs."""
    out = []
    for field in item.entry.get("form", []):
        options = [o if isinstance(o, list | tuple) else (o, o) for o in field.get("options", [])]
        out.append({**field, "choices": options})
    return out


def form_values(fields: list[dict], formdata, prefix: str = "") -> dict:
    """Read a diagram's or item's form fields from posted data, typed for `check_form`.

    Empty inputs are left out (so a required one is reported missing); a checkbox is a
    boolean; everything else stays text and is checked and converted by the service.
    """
    values: dict = {}
    for field in fields:
        name = prefix + field["id"]
        if field.get("type") == "boolean":
            values[field["id"]] = formdata.get(name) in ("on", "true", "1")
            continue
        raw = formdata.get(name, "")
        if raw.strip():
            values[field["id"]] = raw.strip()
    return values


# --- complaints and the 12345 hotline (choices are set by the views, in the page's language) --


class ComplaintForm(FlaskForm):
    """A complaint as the supervision office writes it down (投诉登记)."""

    channel = SelectField(_l("Channel"), validators=[DataRequired()])
    received_at = DateTimeLocalField(_l("Received (empty: now)"), validators=[Optional()])
    complainant_name = StringField(_l("Complainant"),
                                   validators=[DataRequired(), Length(max=100)])  # fmt: skip
    complainant_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    case_no = StringField(_l("Case number it concerns"), validators=[Optional(), Length(max=32)])
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    content = TextAreaField(_l("Complaint"), validators=[DataRequired(), Length(max=4000)])
    department_id = SelectField(_l("Assign to"), coerce=int, validators=[Optional()])


class ComplaintAssignForm(FlaskForm):
    department_id = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])


class ComplaintNoteForm(FlaskForm):
    text = TextAreaField(_l("Investigation note"), validators=[DataRequired(), Length(max=4000)])


class ComplaintReplyForm(FlaskForm):
    text = TextAreaField(_l("Reply to the complainant"),
                         validators=[DataRequired(), Length(max=4000)])  # fmt: skip


class ComplaintFilterForm(FlaskForm):
    """The register's filters, read from the query string (a GET: no CSRF token)."""

    class Meta:
        csrf = False

    since = StringField(_l("Received from"),
                        validators=[Optional(), Regexp(r"^\d{4}-\d{2}-\d{2}$")])  # fmt: skip
    until = StringField(_l("until"), validators=[Optional(), Regexp(r"^\d{4}-\d{2}-\d{2}$")])
    status = SelectField(_l("Status"), validators=[Optional()])
    channel = SelectField(_l("Channel"), validators=[Optional()])
    department_id = SelectField(_l("Department"), coerce=int, validators=[Optional()])
    overdue = BooleanField(_l("Overdue only"))
