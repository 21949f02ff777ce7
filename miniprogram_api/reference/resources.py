"""/categories, /villages, /departments."""

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from miniprogram_api.api import current_user, login_required, require_body_type
from miniprogram_api.reference.schemas import (
    CategorySchema,
    DepartmentSchema,
    VillageSchema,
    town_name,
)
from server.cases import access
from server.db import db
from server.models import Category, Department, Role, Village
from server.organisation import routing

bp = Blueprint("reference", __name__, url_prefix="/api/v1", description="基础数据")
bp.before_request(require_body_type("application/json"))


@bp.route("/categories")
class Categories(MethodView):
    decorators = [login_required]

    @bp.response(200, CategorySchema(many=True))
    def get(self):
        """Active categories, grouped and ordered as the form shows them."""
        return db.session.scalars(
            select(Category)
            .where(Category.active.is_(True))
            .order_by(Category.sort_order, Category.code)
        ).all()


@bp.route("/villages")
class Villages(MethodView):
    decorators = [login_required]

    @bp.response(200, VillageSchema(many=True))
    def get(self):
        """The villages the user works in (grid workers: their grids' villages)."""
        user = current_user()
        query = (
            select(Village)
            .where(Village.active.is_(True), access.in_users_town(user, Village.town_id))
            .order_by(Village.code)
        )
        if user.role == Role.GRID_WORKER:
            query = query.where(Village.id.in_(user.village_ids or {-1}))
        elif user.role == Role.HANDLER and not user.department.town_wide:
            query = query.where(Village.id.in_([v.id for v in user.department.villages] or [-1]))
        return db.session.scalars(query).all()


@bp.route("/departments")
class Departments(MethodView):
    decorators = [login_required]

    @bp.response(200, DepartmentSchema(many=True))
    def get(self):
        """Active departments of the user's town, the villages each covers, and whether
        anyone works there."""
        town = access.in_users_town(current_user(), Department.town_id)
        departments = db.session.scalars(
            select(Department)
            .where(Department.active.is_(True), town)
            .order_by(Department.kind, Department.name)
        ).all()
        staffed = routing.staffed_ids(departments)
        return [
            {
                "id": d.id,
                "name": d.name,
                "town_id": d.town_id,
                "town_name": town_name(d),
                "kind": d.kind.value,
                "kind_label": d.kind.label,
                "town_wide": d.town_wide,
                "village_ids": [v.id for v in d.villages],
                "staffed": d.id in staffed,
            }
            for d in departments
        ]
