"""The signed paper scanned back onto the case: a photo of it (checked and re-encoded as
every photo is, server/cases/media.py) or a PDF from a scanner, kept as sent once its
first bytes say PDF and its size is within MEDIA_MAX_BYTES. Stored in the media storage
and served only to those who may see the case."""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from sqlalchemy import select

from server.casefile import documents
from server.cases import access, media, workflow
from server.db import db, files
from server.infra import clock
from server.infra.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMedia,
    ValidationFailed,
)
from server.infra.storage import new_key, storage
from server.models import CaseDocument, DocumentKind, DocumentScan, User
from server.trust import audit

PDF = "application/pdf"
PDF_MAGIC = b"%PDF-"


def prepare(raw: bytes) -> tuple[bytes, str]:
    """The bytes to store and their type: a PDF as sent, a photo re-encoded; refuses
    anything else, an empty file, or one too large (before anything is written)."""
    if not raw:
        raise ValidationFailed("没有收到文件。", code="missing_file", field="file")
    if len(raw) > int(current_app.config["MEDIA_MAX_BYTES"]):
        raise PayloadTooLarge("文件过大。", code="file_too_large")
    if raw.startswith(PDF_MAGIC):
        if b"%%EOF" not in raw[-1024:]:
            raise ValidationFailed("PDF 文件不完整。", code="invalid_pdf", field="file")
        return raw, PDF
    try:
        (image,) = media.processed_images([raw])
    except UnsupportedMedia:
        raise UnsupportedMedia(
            "请上传签字文书的照片（JPEG、PNG、WebP）或 PDF 扫描件。", code="unsupported_scan"
        ) from None
    return image.data, media.CONTENT_TYPE


def attach(
    document: CaseDocument, prepared: tuple[bytes, str], *, actor: User, ip: str | None = None
) -> DocumentScan:
    """File the signed scan of `document` (from `prepare`); an agreement is signed now,
    on the date it bears, and its window for judicial confirmation runs from it."""
    case = document.case
    if not documents.can_keep_papers(actor, case):
        raise Forbidden("您不能为此案件上传签字文书。", code="papers_forbidden")
    data, content_type = prepared
    key = new_key(".pdf" if content_type == PDF else ".jpg")
    files.delete_on_rollback([key])  # a step refused after the write takes the file too
    storage().put(key, data)
    scan = DocumentScan(
        public_id=secrets.token_hex(16),
        document_id=document.id,
        storage_key=key,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=actor.id,
        created_at=clock.now(),
    )
    db.session.add(scan)
    if document.kind == DocumentKind.AGREEMENT and document.signed_at is None:
        document.signed_at = documents.signed_moment(document)
    db.session.flush()
    workflow.record_paperwork(
        case,
        "upload_scan",
        actor=actor,
        note=f"{document.kind.label}（{document.number}）签字件",
        data={"document": document.id, "number": document.number, "type": content_type},
    )
    audit.record(
        "document.scan_filed",
        actor=actor,
        object_type="case",
        object_id=case.code,
        ip=ip,
        number=document.number,
    )
    return scan


def scan_for(public_id: str, user: User) -> DocumentScan:
    """A scan for `user`, who may see its case; NotFound otherwise."""
    scan = db.session.scalar(select(DocumentScan).where(DocumentScan.public_id == public_id))
    if scan is None or not access.can_view_case(user, scan.document.case):
        raise NotFound("找不到该文件，或您无权查看。")
    return scan
