"""The case file (案卷) as one PDF: cover, table of contents, the mediation papers, the
timeline and the photos, with a Chinese font from the machine embedded as a subset.

Why fpdf2: it is pure Python (a wheel with no compiled part, so the town's offline
wheelhouse needs nothing built), actively kept (releases through 2026), draws tables,
images, outlines and a table of contents itself, and embeds TrueType fonts — .ttc
collections too — as subsets with ToUnicode maps, so a 16 kB page of Chinese stays
searchable and its text can be extracted (the tests read it back with pypdf). ReportLab
would do as well but asks for more code per page; WeasyPrint would let us print the HTML
views but needs Debian's pango stack beside it.

The font is the first file of CASEFILE_FONT_PATHS that exists (Debian's
fonts-wqy-microhei by default). The file is made for the person asking, never cached:
the informant of a confidential case is on its cover for the center alone, and every
download is audited.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path

from flask import current_app
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from PIL import Image
from pypdf import PdfReader, PdfWriter, Transformation
from pypdf.errors import PdfReadError

from server.casefile import archive, documents
from server.cases import access, operations, workflow
from server.infra import clock, codes
from server.infra.errors import ServiceUnavailable
from server.infra.storage import storage
from server.models import Case, CaseDocument, CaseStatus, DocumentKind, User
from server.trust import audit

FONT = "cjk"
MARGIN = 20  # mm, as the papers are printed
LINE = 7
# A table row must fit on one page (fpdf2 refuses one taller): a value longer than this
# (a description, a note, a record of up to 2,000 characters) is printed in full below
# its table, the row saying where.
IN_A_ROW = 240


def font_path() -> Path:
    """The first configured font file that exists; 503 if the machine has none."""
    for candidate in str(current_app.config["CASEFILE_FONT_PATHS"]).split(","):
        path = Path(candidate.strip())
        if candidate.strip() and path.is_file():
            return path
    raise ServiceUnavailable(
        "服务器缺少中文字体，无法生成案卷（请安装 fonts-wqy-microhei）。", code="font_missing"
    )


def _moment(value: datetime | None) -> str:
    return clock.local(value).strftime("%Y年%m月%d日 %H:%M") if value else "—"


def _day(value: datetime | None) -> str:
    if value is None:
        return "—"
    local = clock.local(value)
    return f"{local.year}年{local.month}月{local.day}日"


ACTION_LABELS = {
    "submit": "上报",
    **{a: t.label for a, t in workflow.ACTIONS.items()},
    **{a: label for a, (_s, label) in workflow.REPORTER_ACTIONS.items()},
    **workflow.SYSTEM_ACTIONS,
    **workflow.PAPERWORK_ACTIONS,
}


# What a character the fonts lack is printed as: 〓 (the 'geta' mark typesetters use for a
# missing character) and its code, so that a name is never printed short without a sign.
MISSING = "〓"


@cache
def _covered(path: str) -> frozenset[int]:
    """The characters the font file `path` draws (its first face, for a collection)."""
    with TTFont(path, fontNumber=0, lazy=True) as font:  # its file closed after
        return frozenset(font.getBestCmap())


class _File(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.file_title = title
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN)
        font = font_path()
        # One face serves both weights: the collection has no bold of its own.
        self.add_font(FONT, fname=font)
        self.add_font(FONT, style="B", fname=font)
        self.set_font(FONT, size=11)
        self.set_title(title)
        self.set_creator("网格事件上报与矛盾纠纷调处")
        self.covered = _covered(str(font))
        self.fallbacks_loaded = False
        # (page number, PDF bytes, its page index): a scanned PDF's pages, drawn onto
        # these pages of the file once it is made (`_with_scanned_pages`).
        self.scanned_pages: list[tuple[int, bytes, int]] = []

    def normalize_text(self, text: str) -> str:
        """Every text drawn passes here: a character the font lacks (a rare one of a
        name: 𠮷, 䶮) brings in the fallback fonts, loaded only then (0.6 s for both
        Hanazono files, measured, against 0.14 s for the whole file's main font); one
        that none has is printed as 〓 and its code, never dropped in silence."""
        lacking = {c for c in text if ord(c) > 0x7F and ord(c) not in self.covered}
        if lacking and not self.fallbacks_loaded:
            self._load_fallbacks()
            lacking = {c for c in lacking if ord(c) not in self.covered}
        if lacking:
            text = "".join(f"{MISSING}(U+{ord(c):04X})" if c in lacking else c for c in text)
        return super().normalize_text(text)

    def _load_fallbacks(self) -> None:
        self.fallbacks_loaded = True
        names = []
        paths = str(current_app.config.get("CASEFILE_FALLBACK_FONT_PATHS") or "")
        for number, candidate in enumerate(p.strip() for p in paths.split(",")):
            if candidate and Path(candidate).is_file():
                name = f"{FONT}-fallback{number}"
                self.add_font(name, fname=candidate)
                names.append(name)
                self.covered = self.covered | _covered(candidate)
        if names:
            self.set_fallback_fonts(names, exact_match=False)

    def footer(self):
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 6, f"{self.file_title} · 第{self.page_no()}页", align="C")

    def section_page(self):
        """A new page for a section, unless this one is still empty (the contents'
        placeholder leaves a fresh page behind it)."""
        if self.page == 0 or self.get_y() > self.t_margin + 0.1:
            self.add_page()

    def heading(self, text: str, size: int = 16):
        self.set_x(self.l_margin)  # the contents are drawn late, from wherever x was left
        self.set_font(FONT, "B", size)
        self.multi_cell(0, 10, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=11)

    def para(self, text: str, size: int = 11, align: str = "L"):
        self.set_x(self.l_margin)
        self.set_font(FONT, size=size)
        self.multi_cell(
            0,
            LINE,
            text or "",
            align=align,
            wrapmode=WrapMode.CHAR,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    def pairs(self, rows: list[tuple[str, str]], widths=(40, 130)):
        """Label and value, a row each; a long value in full after the table."""
        long = []
        with self.table(
            col_widths=widths,
            first_row_as_headings=False,
            line_height=LINE,
            wrapmode=WrapMode.CHAR,
            text_align="LEFT",
        ) as table:
            for label, value in rows:
                row = table.row()
                row.cell(label)
                if value and len(value) > IN_A_ROW:
                    long.append((label, value))
                    row.cell(f"{value[:60]}……（全文见本表后“{label}”）")
                else:
                    row.cell(value or "—")
        for label, value in long:
            self.ln(3)
            self.para(f"{label}：", size=11)
            self.para(value)


def build(case: Case, *, viewer: User, ip: str | None = None) -> bytes:
    """The case file of `case` as `viewer` may read it; the download is audited."""
    entry = archive.archive_of(case)
    # The case's own town: in a district of towns the deployment's TOWN_NAME is its first.
    town = case.town.name if case.town is not None else current_app.config.get("TOWN_NAME", "")
    pdf = _File(f"{town}矛盾纠纷调处化解案卷 {codes.display(case.code)}")
    papers = documents.documents_of(case)
    _cover(pdf, case, entry, viewer, ip, town)
    pdf.add_page()  # the contents are drawn where the placeholder stands: a page of its own
    pdf.insert_toc_placeholder(_contents, pages=1, allow_extra_pages=True)
    for paper in papers:
        _paper(pdf, paper)
    _timeline(pdf, case, viewer)
    _merged(pdf, case, viewer)
    _photos(pdf, case)
    audit.record(
        "casefile.downloaded",
        actor=viewer,
        object_type="case",
        object_id=case.code,
        ip=ip,
        archive_number=entry.number if entry else None,
    )
    return _with_scanned_pages(bytes(pdf.output()), pdf.scanned_pages)


def _with_scanned_pages(made: bytes, scanned: list[tuple[int, bytes, int]]) -> bytes:
    """The file with each scanned PDF's pages drawn onto the pages kept for them, under
    their captions, scaled to fit inside the margins."""
    if not scanned:
        return made
    writer = PdfWriter(clone_from=io.BytesIO(made))
    pt = 72 / 25.4
    for page_number, data, index in scanned:
        try:
            source = PdfReader(io.BytesIO(data)).pages[index]
            width, height = float(source.mediabox.width), float(source.mediabox.height)
        except (PdfReadError, ValueError, KeyError, TypeError, IndexError):
            continue  # its page is left with its caption: the original stays on file
        target = writer.pages[page_number - 1]
        box_width = float(target.mediabox.width) - 2 * MARGIN * pt
        box_height = float(target.mediabox.height) - (2 * MARGIN + 2 * LINE) * pt
        scale = min(box_width / width, box_height / height)
        left = MARGIN * pt + (box_width - width * scale) / 2
        bottom = MARGIN * pt + box_height - height * scale  # just under the caption
        target.merge_transformed_page(
            source,
            Transformation()
            .translate(-float(source.mediabox.left), -float(source.mediabox.bottom))
            .scale(scale)
            .translate(left, bottom),
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _cover(pdf: _File, case: Case, entry, viewer: User, ip, town: str) -> None:
    pdf.add_page()
    pdf.ln(20)
    pdf.heading(town, 18)
    pdf.heading("矛盾纠纷调处化解案卷", 26)
    final = case.status == CaseStatus.CLOSED
    if not final:  # a file printed while the case is open (or reopened) is no archive copy
        pdf.heading(f"（{case.status.label}，未结案，非归档稿）", 14)
    pdf.ln(12)
    parties = "；".join(f"{p.side.label}：{p.name}" for p in case.parties) or "—"
    handler = "、".join(
        n
        for n in (
            case.lead_department.name if case.lead_department else None,
            case.handler.display_name if case.handler else None,
        )
        if n
    )
    if not handler:  # closed: the departments let go; the last lead is on the assignments
        leads = [a for a in case.assignments if a.role.value == "lead"]
        handler = leads[-1].department.name if leads else "—"
    retention = (
        f"{entry.retention.label}（{archive.RETENTION_YEARS[entry.retention]}年，{entry.note}）"
        if entry and final
        else "—"
    )
    rows = [
        ("卷号", entry.number if entry else "未归档"),
        ("案件编号", codes.display(case.code)),
        ("类别", f"{case.category.name}（{case.category.group.label}）"),
        ("村", case.village.name),
        ("当事人", parties),
        ("案由", case.description),
        ("上报日期", _day(case.created_at)),
        ("受理日期", _day(case.accepted_at)),
        ("办结日期", _day(case.resolved_at)),
        ("结案日期", _day(case.closed_at)),
        ("承办单位及人员", handler),
        ("办理结果", f"{case.result_code.label}：{case.result_text}" if case.result_code else "—"),
        ("结案原因", case.closing_reason.label if case.closing_reason else "—"),
        ("当前状态", case.status.label),
        ("归档日期", _day(entry.archived_at) if entry and final else "—"),
        ("保管期限", retention),
    ]
    if access.can_see_informant(viewer, case):
        informant = access.reveal_informant(case, actor=viewer, ip=ip)  # audited
        who = (
            "匿名"
            if informant is None
            else " ".join(v for v in (informant["name"], informant["phone"]) if v)
        )
        rows.append(("举报人（仅调处中心可见）", who or "匿名"))
    pdf.pairs(rows)
    pdf.ln(6)
    pdf.para(f"制卷时间：{_moment(clock.now())}    制卷人：{viewer.display_name}", size=9)


def _contents(pdf: FPDF, outline) -> None:
    pdf.heading("卷内目录", 18)
    pdf.ln(4)
    with pdf.table(
        col_widths=(15, 125, 30),
        line_height=LINE,
        text_align=("CENTER", "LEFT", "CENTER"),
        wrapmode=WrapMode.CHAR,
    ) as table:
        head = table.row()
        for text in ("序号", "题名", "页号"):
            head.cell(text)
        for number, section in enumerate(outline, start=1):
            row = table.row()
            row.cell(str(number))
            row.cell(section.name)
            row.cell(str(section.page_number))


def _value(spec: documents.Field, content: dict) -> str:
    value = content.get(spec.name) or ""
    return documents.as_chinese_date(value) if spec.kind == "date" else value


def _paper(pdf: _File, paper: CaseDocument) -> None:
    template = documents.TEMPLATES[paper.kind]
    title = template.title
    if paper.kind == DocumentKind.APPLICATION and paper.content.get("manner") == "口头申请":
        title = "人民调解口头申请记录"
    pdf.section_page()
    pdf.start_section(f"{title}（{paper.number}）")
    pdf.heading(title, 18)
    pdf.para(paper.number, size=11, align="R")
    pdf.ln(2)
    rows = [(f.label, _value(f, paper.content)) for f in template.fields if f.name != "signed_on"]
    pdf.pairs(rows)
    if paper.kind == DocumentKind.AGREEMENT:
        pdf.ln(4)
        pdf.para("经调解，双方自愿达成如下协议：")
        with pdf.table(
            col_widths=(12, 78, 40, 20, 20),
            line_height=LINE,
            wrapmode=WrapMode.CHAR,
            text_align="LEFT",
        ) as table:
            head = table.row()
            for text in ("序号", "协议内容", "履行方式", "履行期限", "回访核实"):
                head.cell(text)
            for term in paper.terms:
                row = table.row()
                row.cell(str(term.position))
                row.cell(term.text)
                row.cell(term.performance or "—")
                row.cell(documents.as_chinese_date(term.due_on.isoformat()) if term.due_on else "—")
                row.cell({True: "已履行", False: "未履行", None: "未回访"}[term.kept])
    for text in template.fixed:
        pdf.ln(2)
        pdf.para(text)
    pdf.ln(6)
    for line in template.signatures:
        pdf.para(f"{line}：________________        日期：____年____月____日")
        pdf.ln(1)
    if template.dated_by:
        pdf.para(documents.as_chinese_date(paper.content.get(template.dated_by)), align="R")
    for scan in paper.scans:
        pdf.ln(2)
        kind = "PDF 扫描件" if scan.content_type == "application/pdf" else "照片"
        caption = (
            f"签字件（{kind}）已存档：{_moment(scan.created_at)}，上传人"
            f"{scan.uploaded_by.display_name}，校验值 {scan.sha256[:16]}"
        )
        if scan.content_type.startswith("image/"):
            _image(pdf, storage().get(scan.storage_key), width=170, caption=caption)
            continue
        data = storage().get(scan.storage_key)
        try:
            pages = len(PdfReader(io.BytesIO(data)).pages)
        except (PdfReadError, ValueError, KeyError, TypeError):
            pages = 0  # a PDF pypdf cannot read: said, and kept as it was filed
        if not pages:
            pdf.para(f"{caption}（此扫描件无法并入案卷，请调阅原件）", size=9)
        for number in range(pages):
            pdf.add_page()
            pdf.para(f"{caption}，第{number + 1}/{pages}页", size=9)
            pdf.scanned_pages.append((pdf.page, data, number))


def _timeline(pdf: _File, case: Case, viewer: User) -> None:
    pdf.section_page()
    pdf.start_section("办理过程（时间线）")
    pdf.heading("办理过程", 18)
    with pdf.table(
        col_widths=(32, 22, 26, 20, 70),
        line_height=6,
        wrapmode=WrapMode.CHAR,
        text_align="LEFT",
    ) as table:
        head = table.row()
        for text in ("时间", "环节", "办理人", "状态", "说明"):
            head.cell(text)
        long = []  # (number, when, what, text): printed in full after the table
        for event in operations.timeline(case, viewer=viewer):
            row = table.row()
            row.cell(_moment(event.at))
            row.cell(ACTION_LABELS.get(event.action, "其他"))
            who = (
                event.actor.display_name
                if event.actor
                else ("系统" if event.actor_role == "system" else "群众")
            )
            row.cell(who)
            row.cell(event.to_status.label)
            data = event.data or {}
            # What it decided (department, result, reason, new due time, answer...), then
            # its note, then an agreement's terms as the visit found them.
            parts = [f"{label}：{value}" for label, value in workflow.event_facts(data)]
            parts.append(event.note or "")
            if isinstance(data.get("terms"), dict):
                parts += [
                    f"{text.rstrip('。')}：{'已履行' if kept else '未履行'}"
                    for text, kept in data["terms"].items()
                ]
            said = "；".join(p.rstrip("。") for p in parts if p)
            if len(said) > IN_A_ROW:
                long.append(
                    (
                        len(long) + 1,
                        _moment(event.at),
                        ACTION_LABELS.get(event.action, "其他"),
                        said,
                    )
                )
                said = f"{said[:60]}……（全文见本表后第{len(long)}条）"
            row.cell(said)
    for number, when, what, said in long:
        pdf.ln(3)
        pdf.para(f"第{number}条　{when}　{what}：", size=10)
        pdf.para(said)


def _merged(pdf: _File, case: Case, viewer: User) -> None:
    """The reports folded into this case as duplicates (合并): each is part of the file,
    though its own timeline ends at the merge."""
    merged = [m for m in case.merged_reports if access.can_view_case(viewer, m)]
    if not merged:
        return
    pdf.section_page()
    pdf.start_section("合并的报告")
    pdf.heading("合并的报告", 18)
    for report in merged:
        pdf.ln(2)
        pdf.pairs(
            [
                ("案件编号", codes.display(report.code)),
                ("上报时间", _moment(report.created_at)),
                ("来源", report.source.label),
                ("事情经过", report.description),
            ]
        )


def _photos(pdf: _File, case: Case) -> None:
    pdf.section_page()
    pdf.start_section("照片")
    pdf.heading("照片", 18)
    if not case.photos:
        pdf.para("本案无照片。")
    for number, photo in enumerate(case.photos, start=1):
        caption = f"照片{number}：{_moment(photo.created_at)}"
        _image(pdf, storage().get(photo.storage_key), width=120, caption=caption)
        pdf.ln(4)


def _image(pdf: _File, data: bytes, *, width: float, caption: str) -> None:
    """The image under its caption, `width` wide or less so that it fits a page (a 9:16
    phone photo of a signed paper would run 300 mm down an A4 page); both on the next
    page when they do not fit in what is left of this one."""
    with Image.open(io.BytesIO(data)) as image:
        ratio = image.height / max(1, image.width)
    room = pdf.h - 2 * MARGIN - 2 * LINE - 4  # the caption's lines and the footer's
    w = min(width, room / ratio)
    if pdf.get_y() + 2 * LINE + w * ratio > pdf.h - MARGIN:
        pdf.add_page()
    pdf.para(caption, size=9)
    pdf.image(io.BytesIO(data), w=w, x=pdf.l_margin)
