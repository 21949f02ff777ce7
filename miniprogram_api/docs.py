"""The API's documentation page (/api/v1/docs), in Chinese, drawn from its OpenAPI spec.

flask-smorest offers Swagger UI, which is English throughout: its buttons and headings,
and the views' docstrings it shows as each operation's summary. The mini program's
developers, and anyone the town's front page sends here, read Chinese. This page shows
the same spec (one source: the schemas, bounds and answers are the ones the API checks),
with each operation's summary from SUMMARIES: an operation without one fails a test.
/api/v1/openapi.json stays, for tools.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from miniprogram_api.api import PREFIX

# One sentence per operation, as the developer of a phone page reads it.
SUMMARIES = {
    ("post", "/auth/login"): "用户名和密码登录，答复登录令牌。",
    ("post", "/auth/wechat"): "用 wx.login() 得到的 code 登录（须已绑定账号的微信）。",
    ("post", "/auth/wechat/bind"): "把当前微信（wx.login() 的 code）绑定到已登录的账号。",
    ("get", "/auth/me"): "当前登录的用户。",
    ("post", "/auth/refresh"): "换一个新令牌（旧令牌到期前仍可用）：常用的手机一直保持登录。",
    ("post", "/auth/logout"): "退出登录：该用户在所有手机上的令牌一并失效。",
    ("get", "/auth/wechat-web/authorize"): (
        "公众号网页授权的跳转地址；授权后带着 code 和 state 回到工作台 /m/。"
    ),
    ("post", "/auth/wechat-web"): "用公众号网页授权的 code 登录（从公众号菜单打开工作台）。",
    ("post", "/auth/wechat-web/bind"): "把公众号 openid 绑定到已登录的账号：下次从菜单进入免密码。",
    ("post", "/auth/password"): "设置新密码（密码被重置后须先设置）；答复登录令牌。",
    ("get", "/categories"): "在用的类别，按分组和表单中的顺序。",
    ("get", "/villages"): "用户负责的村（网格员：其网格所在的村）。",
    ("get", "/departments"): "本镇在用的部门、各自负责的村，以及是否有人办理。",
    ("post", "/reports"): "上报（网格员上报，或调处中心登记的来访、来电）。",
    ("get", "/cases"): "用户可见的案件，最新的在前；用 next_cursor 取下一页。",
    ("get", "/cases/{code}"): "一件案件：详情、照片、办理经过，以及用户现在可以做的操作。",
    ("post", "/cases/{code}/actions"): "按流程办理案件（签收、办结等）。",
    ("get", "/cases/{code}/documents"): "案件的调解文书，以及用户现在可以制作的文书种类。",
    ("post", "/cases/{code}/documents"): "按模板制作一份文书：内容取自案件，按年度编号。",
    ("patch", "/cases/{code}/documents/{document_id}"): "修改文书内容（协议书的条款整体替换）。",
    ("get", "/cases/{code}/case-file.pdf"): "下载整本案卷（PDF），每次下载都记入审计日志。",
    ("post", "/cases/{code}/documents/{document_id}/scans"): (
        "上传签字后的文书扫描件（表单字段 file：照片或 PDF）。"
    ),
    ("get", "/scans/{public_id}"): "签字文书的扫描件，仅能看到该案件的用户可取。",
    ("post", "/media"): "上传一张照片（表单字段 file）；上报时按编号附上。",
    ("get", "/media/{public_id}"): "照片或缩略图，仅能看到该案件的用户可取。",
    ("get", "/qr/{token}"): (
        "扫码海报对应的村。微信把海报网址作为参数 q（已编码）传给小程序，网址的最后一段即 token。"
    ),
    ("post", "/wechat/consents"): "用户每同意一次订阅，可向其发送一条该模板的消息：各加一次。",
    ("get", "/screenings"): "用户负责的村最近的排查记录（最多 50 条）。",
    ("post", "/screenings"): "登记一次排查；每项发现成为一件关联的案件（没有发现即零报告）。",
    ("get", "/todo"): (
        "当前要办的：待签收、在办（临期和超期在前）、到期的回访、本周排查、未读消息。"
    ),
    ("get", "/inbox"): "用户的消息，最新的在前。",
    ("post", "/inbox/read"): "标为已读（指定的几条，或全部）。",
}

TYPES = {
    "string": "文本",
    "integer": "整数",
    "number": "数字",
    "boolean": "是或否",
    "array": "列表",
    "object": "对象",
}
FORMATS = {
    "date-time": "带时区的时间（ISO 8601）",
    "date": "日期（YYYY-MM-DD）",
    "uuid": "UUID",
    "binary": "文件",
}
PLACES = {"path": "路径", "query": "查询参数", "header": "请求头"}
# What an answer's status means, where the view does not say it in its own words.
ANSWERS = {
    "200": "成功",
    "201": "已创建",
    "204": "成功，无内容",
    "400": "请求有误",
    "401": "未登录或登录已失效",
    "403": "无权进行此操作",
    "404": "找不到",
    "409": "与当前状态冲突",
    "413": "内容过大",
    "415": "请求体类型不对",
    "422": "输入有误",
    "429": "太频繁，请稍后再试",
    "503": "暂时不可用，请稍后再试",
    "default": "出错时的答复（见“错误”）",
}
METHODS = ("get", "post", "put", "patch", "delete")

bp = Blueprint("api_docs", __name__, template_folder="templates")


def _has_chinese(text: str | None) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text or "")


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def type_words(schema: dict) -> str:
    """A schema's type as a reader says it: 文本（最多16字）, 列表，每项为 Photo, …"""
    if (name := _ref_name(schema)) is not None:
        return name
    if schema.get("allOf"):
        return type_words(schema["allOf"][0])
    kind = schema.get("type", "object")
    if kind == "array":
        return f"列表，每项为{type_words(schema.get('items', {}))}"
    words = FORMATS.get(schema.get("format", ""), TYPES.get(kind, kind))
    bounds = []
    if "enum" in schema:
        bounds.append("取值：" + "、".join(str(v) for v in schema["enum"] if v is not None))
    if "minLength" in schema and schema["minLength"] > 0:
        bounds.append(f"至少{schema['minLength']}字")
    if "maxLength" in schema:
        bounds.append(f"最多{schema['maxLength']}字")
    if "minimum" in schema and "maximum" in schema:
        bounds.append(f"{schema['minimum']}至{schema['maximum']}")
    if "maxItems" in schema:
        bounds.append(f"最多{schema['maxItems']}项")
    if schema.get("nullable"):
        bounds.append("可为空")
    return f"{words}（{'；'.join(bounds)}）" if bounds else words


def _fields(schema: dict) -> list[dict]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": type_words(field),
            "ref": _ref_name(field) or _ref_name(field.get("items", {})),
            "required": name in required,
            "read_only": field.get("readOnly", False),
            "default": field.get("default"),
            "description": field.get("description", ""),
        }
        for name, field in schema.get("properties", {}).items()
    ]


def _body(operation: dict, files: list[dict]) -> dict | None:
    """The request's body. An upload's file fields come as "formData" parameters (how
    flask-smorest writes `location="files"`) beside an empty form: they are the body,
    sent as multipart/form-data."""
    if files:
        return {"mimetype": "multipart/form-data", "schema": None, "fields": files}
    content = (operation.get("requestBody") or {}).get("content") or {}
    for mimetype, media in content.items():
        return {"mimetype": mimetype, "schema": _ref_name(media.get("schema", {})), "fields": []}
    return None


def _parameter(p: dict) -> dict:
    return {
        "name": p["name"],
        "place": PLACES.get(p["in"], p["in"]),
        "required": p.get("required", False),
        "type": type_words(p.get("schema", {})),
        "description": p.get("description", ""),
    }


def _answers(operation: dict) -> list[dict]:
    out = []
    for status, answer in sorted(operation.get("responses", {}).items()):
        said = answer.get("description", "")
        schema, ref = None, None
        for media in (answer.get("content") or {}).values():
            given = media.get("schema", {})
            schema = type_words(given)  # Photo, or 列表，每项为Category
            ref = _ref_name(given) or _ref_name(given.get("items", {}))
        out.append(
            {
                "status": status,
                "words": said if _has_chinese(said) else ANSWERS.get(status, ""),
                "schema": schema,
                "ref": ref,
            }
        )
    return out


def _referenced(start, schemas: dict) -> set[str]:
    """The schemas `start` refers to, and those they refer to (a schema no operation
    uses, such as flask-smorest's own paging one, is not shown)."""
    found: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            name = _ref_name(node)
            if name is not None and name not in found and name in schemas:
                found.add(name)
                todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def pages(spec: dict) -> dict:
    """The spec as the page shows it: its sections (by tag), each operation in words,
    and every schema's fields."""
    # Sections by title: two blueprints may share one (调解文书与案卷).
    sections: dict[str, dict] = {}
    by_tag: dict[str, dict] = {}
    for tag in spec.get("tags", []):
        title = tag.get("description") or tag["name"]
        by_tag[tag["name"]] = sections.setdefault(title, {"title": title, "operations": []})
    missing = []
    for path, item in spec["paths"].items():
        short = path.removeprefix(PREFIX)
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            summary = SUMMARIES.get((method, short))
            if summary is None:
                missing.append(f"{method.upper()} {path}")
            given = [*item.get("parameters", []), *operation.get("parameters", [])]
            files = [_parameter(p) for p in given if p["in"] == "formData"]
            tag = (operation.get("tags") or ["其他"])[0]
            if tag not in by_tag:
                by_tag[tag] = sections.setdefault(tag, {"title": tag, "operations": []})
            by_tag[tag]["operations"].append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": f"{method}-{short.strip('/').replace('/', '-')}",
                    "summary": summary or "",
                    "parameters": [_parameter(p) for p in given if p["in"] != "formData"],
                    "body": _body(operation, files),
                    "answers": _answers(operation),
                }
            )
    every = spec.get("components", {}).get("schemas", {})
    schemas = {
        name: {"fields": _fields(every[name]), "type": every[name].get("type", "object")}
        for name in sorted(
            _referenced([spec["paths"], spec.get("components", {}).get("responses", {})], every)
        )
    }
    return {
        "sections": [s for s in sections.values() if s["operations"]],
        "schemas": schemas,
        "missing": missing,
    }


@bp.get(f"{PREFIX}/docs")
def docs():
    """The API, in Chinese (see the module's note)."""
    spec = current_app.extensions["grid_report_api"].spec.to_dict()
    return render_template("api/docs.html", info=spec["info"], **pages(spec))
