"""Request and response bodies of /auth."""

import marshmallow as ma


class LoginSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128),
                                load_only=True)


class WeChatCodeSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128),
                            metadata={"description": "wx.login() 返回的 code（5 分钟内有效）"})


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String()
    role_label = ma.fields.Function(lambda u: u.role.label)
    department = ma.fields.Function(
        lambda u: {"id": u.department.id, "name": u.department.name} if u.department else None,
        metadata={"description": "处置人员所属部门"})
    wechat_bound = ma.fields.Function(lambda u: u.wechat_openid is not None)


class TokenSchema(ma.Schema):
    token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"description": "Bearer"})
    expires_at = ma.fields.AwareDateTime(required=True)
    user = ma.fields.Nested(UserSchema, required=True)


class BoundSchema(ma.Schema):
    bound = ma.fields.Boolean(required=True)
