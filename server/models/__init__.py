"""The models, importable from one place (`from server.models import Case`)."""

from server.models.cases import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseParty,
    CaseStatus,
    ClosingReason,
    PartyKind,
    PartySide,
    Photo,
    ResultCode,
    Source,
)
from server.models.categories import (
    AssignmentRole,
    Category,
    CategoryGroup,
    CategoryTimeLimit,
    RiskLevel,
    RoutingRule,
    Severity,
    Step,
)
from server.models.organisation import Department, DepartmentKind, Role, User
from server.models.places import Grid, RetiredQrToken, Town, Village
from server.models.records import (
    AuditEntry,
    CalendarDay,
    IdempotencyRecord,
    LoginThrottle,
    WebSession,
)

__all__ = [
    "AssignmentRole",
    "AuditEntry",
    "CalendarDay",
    "Case",
    "CaseAssignment",
    "CaseEvent",
    "CaseParty",
    "CaseStatus",
    "Category",
    "CategoryGroup",
    "CategoryTimeLimit",
    "ClosingReason",
    "Department",
    "DepartmentKind",
    "Grid",
    "IdempotencyRecord",
    "LoginThrottle",
    "PartyKind",
    "PartySide",
    "Photo",
    "ResultCode",
    "RetiredQrToken",
    "RiskLevel",
    "Role",
    "RoutingRule",
    "Severity",
    "Source",
    "Step",
    "Town",
    "User",
    "Village",
    "WebSession",
]
