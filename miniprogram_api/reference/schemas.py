"""Bodies of the reference endpoints."""

import marshmallow as ma


class CategorySchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    group = ma.fields.String()
    group_label = ma.fields.Function(lambda c: c.group.label)
    hint = ma.fields.String(allow_none=True)
    urgent = ma.fields.Boolean()
    emergency = ma.fields.Boolean()
    confidential = ma.fields.Boolean()
    default_risk_level = ma.fields.String()


class GridSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()


def town_name(row) -> str:
    """A row's town, in words: a district's people see every town's, whose villages and
    departments may share a name (two towns' 东村村委会)."""
    return row.town.name if row.town is not None else "区直"


class VillageSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    town_id = ma.fields.Integer()
    town_name = ma.fields.Function(town_name)
    # Its grids still in use (retired ones are kept for their cases only).
    grids = ma.fields.List(ma.fields.Nested(GridSchema), attribute="grids_in_use")


class DepartmentSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    town_id = ma.fields.Integer(allow_none=True, metadata={"description": "空：区直部门"})
    town_name = ma.fields.String()
    kind = ma.fields.String()
    kind_label = ma.fields.String()
    town_wide = ma.fields.Boolean()
    village_ids = ma.fields.List(ma.fields.Integer())
    staffed = ma.fields.Boolean(metadata={"description": "有在岗人员；无人员的部门不能派遣"})
