"""Import every model so the metadata knows all tables (for Alembic and tests)."""

from .applicants.models import (  # noqa: F401
    Evaluation,
    FollowUp,
    OnlineApplication,
    QueryAttempt,
    Upload,
)
from .audit.models import AuditView, Event  # noqa: F401
from .auth.models import WebSession  # noqa: F401
from .calendar.models import CalendarDay, CalendarYear  # noqa: F401
from .cases.models import Case, CasePause, Task, Timer  # noqa: F401
from .catalogue.drafts import DiagramDraft  # noqa: F401
from .catalogue.migration_plans import MigrationPlan  # noqa: F401
from .catalogue.models import DiagramVersion, Item  # noqa: F401
from .catalogue.whatif_runs import WhatIfRun  # noqa: F401
from .complaints.models import (  # noqa: F401
    Complaint,
    ComplaintCounter,
    ComplaintEvent,
    ComplaintNote,
    ComplaintWarning,
)
from .db import Base  # noqa: F401
from .licences.models import Licence, LicenceEvent, SignedDocument  # noqa: F401
from .org.models import Absence, CheckIn, Department, Post, Region, User  # noqa: F401
from .privacy import PersonalDataView  # noqa: F401
from .stats.tables import (  # noqa: F401
    StatDay,
    StatDaysTaken,
    StatOpenDay,
    StatPostDay,
    StatPostMonth,
    StatRoll,
    StatTaskDay,
)
from .supervision.models import Notification, WarningCard  # noqa: F401
