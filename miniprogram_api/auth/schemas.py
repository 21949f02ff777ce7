"""Request and response bodies of /auth."""

import marshmallow as ma


class LoginSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=128), load_only=True
    )


class WeChatCodeSchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "wx.login() 返回的 code（5 分钟内有效）"},
    )


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String()
    role_label = ma.fields.Function(lambda u: u.role.label)
    department = ma.fields.Function(
        lambda u: {"id": u.department.id, "name": u.department.name} if u.department else None,
        metadata={"description": "处置人员所属部门"},
    )
    wechat_bound = ma.fields.Function(lambda u: u.wechat_openid is not None)
    wechat_web_bound = ma.fields.Function(
        lambda u: u.wechat_oa_openid is not None,
        metadata={"description": "已绑定公众号（手机工作台免密登录）"},
    )
    grids = ma.fields.Function(
        lambda u: [
            {"id": g.id, "name": g.name, "village": {"id": g.village.id, "name": g.village.name}}
            for g in sorted(u.grids, key=lambda g: g.code)
        ],
        metadata={"description": "网格员负责的网格及其村（上报时预选）"},
    )


class TokenSchema(ma.Schema):
    token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"description": "Bearer"})
    expires_at = ma.fields.AwareDateTime(required=True)
    user = ma.fields.Nested(UserSchema, required=True)


class BoundSchema(ma.Schema):
    bound = ma.fields.Boolean(required=True)


class WebCodeSchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "公众号网页授权回调带回的 code"},
    )


class AuthorizeQuerySchema(ma.Schema):
    state = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=8, max=64), ma.validate.Regexp(r"^[A-Za-z0-9_-]+$")],
        metadata={"description": "客户端生成的随机值，回调时原样带回，用于核对"},
    )


class AuthorizeSchema(ma.Schema):
    url = ma.fields.String(required=True, metadata={"description": "打开此地址进行网页授权"})


class SignedOutSchema(ma.Schema):
    signed_out = ma.fields.Boolean(required=True)


class PasswordChangeSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        load_only=True,
        metadata={"description": "原密码（或重置后的密码）"},
    )
    new_password = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=128), load_only=True
    )
