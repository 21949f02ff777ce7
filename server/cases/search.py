"""Search (查找): one box for a case number, a tracking code, a phone, a name, or words of
the description or place.

What a query is taken as, in this order:
- a case number (12 characters of its alphabet, separators and case ignored) or a
  villager's tracking code (26): the case itself, the view goes straight to it;
- a phone (7 to 15 digits once spaces, dashes, brackets, + and the country code 86 are
  dropped): the cases whose informant or a party has that phone, and nothing else (a
  phone never goes to the words, so no one but the center finds a case by it);
- anything else: words of the description, the place or a party's name, and for the
  center also an informant's name or WeChat id, matched whole.

Identity, searched and shown for the center only (server/cases/access.py,
`can_see_informant`): the informant's name, phone and WeChat id (sealed on the case,
server/trust/identity.py) and the parties' phones, which no page shows anyone (the
parties are stored in the clear in `case_party`, for the repeat-dispute check). They are
matched through keyed hashes (`case_identity_digest`), never through the text index,
and a result never shows them: the center opens the case, which records that it did.
A party's name is not identity here: every role that may see a case reads it on the
case's page, so the words index holds it and every such role finds the case by it.
Every result passes the one access policy (`access.case_filter`), and a center's search
that looked up identity is on the audit log, with what it found but not what was asked.

Chinese text without a word list: overlapping character bigrams. Each run of letters
and digits (NFKC, lower case) is kept as its bigrams and its last character alone
("邻居漏水" -> 邻居 居漏 漏水 水). A 2-character query is one term, a longer one its
bigrams in a row, a single character any term starting with it; so 1- and 2-character
queries (张三, 漏水, the most common Chinese words and names) work, which SQLite's
trigram tokenizer cannot do (it needs 3) and PostgreSQL's pg_trgm does not either (and in
a C-locale database it may drop CJK characters). The terms are computed here, in Python,
by one rule for both databases, and kept in `case_search.body` after a term for the
case's village ("_v7": "_" is in no word's term):
- SQLite: an FTS5 table over it (external content kept by triggers; tokenizer unicode61
  with "_" a token character, so it splits only on the spaces between terms). A longer
  query is an FTS5 phrase (positions make it exact), a single character a prefix query.
  FTS5 reads its doclists from the newest rowid down, and LIMIT stops it after a page.
- PostgreSQL: a GIN index over `array_to_tsvector(string_to_array(body, ' '))` plus the
  case's bucket of 4096 ids as one more term ("~244"); no text search parser or locale is
  involved. The terms are ANDed and a longer query is then checked as consecutive terms
  in the body (exact, like the phrase). A GIN index returns its matches unordered, and
  the planner takes the bigrams of one word for independent (so it thinks a common
  phrase rare): asked for everything, PostgreSQL fetched all 83,000 cases of a common
  place name to sort them (610 ms at a million cases). So the search asks the index for
  the newest bucket, then 4 and 16 buckets, then all the rest, and stops at a page.
A reader the policy holds to some villages (a grid worker) also asks for their villages'
terms, and a handler for their department's ("_d3", added to a case's words when the
department is first sent it, `add_departments`), so words common elsewhere cost them
nothing (on PostgreSQL their single characters are checked on those cases rather than
asked of the index as a prefix, but for the oldest stretch of a search that has nothing
else to ask, by a reader of many cases: `CHECKED_CASES`); every case found still passes
`access.case_filter`. A case's village, description, place and parties are fixed when it
is filed (no operation changes them), so its words are written once, with its other rows,
and it is found at once; only the departments it is sent to are added later.
Results come newest first (by case id, which follows filing), a page at a time by
keyset (`after`). Measured at 1,000,000 cases by benchmarks/bench_search.py (figures in
its docstring): every median under 35 ms on both databases.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import Select, column, func, insert, literal_column, select, table, text, update
from sqlalchemy.orm import selectinload

from server.cases import access, tracking
from server.db import db
from server.infra import codes
from server.infra.errors import ValidationFailed
from server.models import (
    Case,
    CaseAssignment,
    CaseIdentityDigest,
    CaseSearchText,
    DigestKind,
    User,
)
from server.trust import audit, identity

MAX_QUERY = 50  # characters
PAGE = 20
# Cases listed at most for one phone or name (a person with more is a page of its own).
MAX_IDENTITY_HITS = 100
TRACKING_LENGTH = 26  # server/cases/tracking.py SECRET_LENGTH
_RUN = re.compile(r"[^\W_]+")  # letters and digits: what a term is made of
_PHONE = re.compile(r"^[\d\s()（）+\-—.·]+$")
_FTS = table("case_search_fts", column("rowid"))
# PostgreSQL's index holds each case's terms and its bucket of ids ("~244": ids 244 * 4096
# to 245 * 4096 - 1), written out here as in the index (not bound: the planner uses an
# index only for its very expression).
BUCKET_BITS = 12
_PG_TERMS = (
    "array_to_tsvector(string_to_array(case_search.body, ' ')"
    " || ('~' || (case_search.case_id >> 12)::text))"
)

MATCHED = {
    "code": "案件编号",
    "tracking": "跟踪码",
    "text": "描述、地点或当事人",
    DigestKind.REPORTER_NAME: "举报人姓名",
    DigestKind.REPORTER_PHONE: "举报人电话",
    DigestKind.REPORTER_WECHAT: "举报人微信号",
    DigestKind.PARTY_PHONE: "当事人电话",
}


def runs(value: str | None) -> list[str]:
    """The runs of letters and digits of `value`, as compared (NFKC, lower case)."""
    return _RUN.findall(unicodedata.normalize("NFKC", value or "").lower())


def terms(value: str | None) -> list[str]:
    """What the index keeps of `value`: each run's overlapping bigrams, then its last
    character alone (so that a single character is found at the end of a run too)."""
    found = []
    for run in runs(value):
        found += [run[i : i + 2] for i in range(len(run) - 1)]
        found.append(run[-1])
    return found


def village_term(village_id: int) -> str:
    """The term that stands for a case's village (no word makes it: words have no "_")."""
    return f"_v{village_id}"


def department_term(department_id: int) -> str:
    """The term that stands for a department the case was sent to (`add_departments`)."""
    return f"_d{department_id}"


def body_of(
    village_id: int, description: str | None, place: str | None, party_names: list[str]
) -> str:
    """The `case_search.body` of a case: its village's term, then the terms of what
    anyone who may see it reads."""
    words = terms(" ".join([description or "", place or "", *party_names]))
    return " ".join([village_term(village_id), *words])


@dataclass(frozen=True)
class Entry:
    """What a new case adds to the search's tables, worked out before it is written."""

    body: str
    reporter: dict = field(default_factory=dict)  # the informant's identity, in the clear
    party_phones: list = field(default_factory=list)


def entry_for(case: Case, reporter: dict) -> Entry:
    """The search entry of a new case (`reporter`: name, phone, WeChat id by field)."""
    return Entry(
        body_of(case.village.id, case.description, case.place_text, [p.name for p in case.parties]),
        {f"reporter_{k}": v for k, v in reporter.items()},
        [p.phone for p in case.parties],
    )


# Built once: every report writes them (a statement made anew is keyed for SQLAlchemy's
# cache anew each time).
_INSERT_TEXT = insert(CaseSearchText)
_INSERT_DIGESTS = insert(CaseIdentityDigest)


def add_departments(case: Case, department_ids: list[int]) -> None:
    """The case was sent to these departments for the first time: its words now carry
    their terms, so that their handlers, who may see their department's cases and no
    other (server/cases/access.py), ask the index for their own cases alone, as a grid
    worker asks for their villages'. Never taken away: a department sees a case it was
    ever sent. One statement for all of them: on PostgreSQL each rewrites the row and
    enters its every term in the GIN index again. (Matched against every case of the
    town instead, a word common in one village took a police station's handler over 15 s
    a query at ten million cases.)"""
    db.session.execute(
        update(CaseSearchText)
        .where(CaseSearchText.case_id == case.id)
        .values(
            body=CaseSearchText.body + "".join(" " + department_term(d) for d in department_ids)
        )
    )


def write_entry(connection, case_id: int, entry: Entry) -> None:
    """Index a new case at once, with its other rows (the FTS5 table follows by trigger)."""
    connection.execute(_INSERT_TEXT, {"case_id": case_id, "body": entry.body})
    rows = identity.digest_rows(case_id, entry.reporter, entry.party_phones)
    if rows:
        connection.execute(_INSERT_DIGESTS, rows)


@dataclass
class Hit:
    """A case found, what it was found by, and a snippet of its text (no identity)."""

    case: Case
    matched: str
    snippet: tuple[str, str, str]  # before, the match, after


@dataclass
class Results:
    """What a search found, for one page."""

    query: str
    kind: str  # "code", "tracking", "phone" or "text"
    hits: list[Hit]
    # A case number or tracking code leads to this one case.
    direct: Case | None = None
    # The next page of word matches starts below this case id.
    next_after: int | None = None
    note: str | None = None


def cleaned(query: str | None) -> str:
    """The query as typed, trimmed; ValidationFailed (in Chinese) if empty or too long."""
    query = (query or "").strip()
    if not query:
        raise ValidationFailed("请输入要查找的内容。", code="empty_query", field="q")
    if len(query) > MAX_QUERY:
        raise ValidationFailed(
            f"查找内容过长（最多{MAX_QUERY}个字）。", code="query_too_long", field="q"
        )
    if not runs(query):
        raise ValidationFailed("请输入文字、数字或编号。", code="empty_query", field="q")
    return query


def phone_digits(query: str) -> str | None:
    """The phone `query` is, as compared, or None if it is not one."""
    if not _PHONE.match(query):
        return None
    digits = identity.normalised("phone", query)
    return digits if digits is not None and 7 <= len(digits) <= 15 else None


def search(user: User, query: str | None, *, after: int | None = None) -> Results:
    """What `user` finds with `query` (a page of word matches below case id `after`)."""
    query = cleaned(query)
    visible = access.case_filter(user)
    compact = codes.normalise(query)
    if after is None and len(compact) == codes.LENGTH and set(compact) <= set(codes.ALPHABET):
        case = db.session.scalar(select(Case).where(Case.code == compact, visible))
        if case is not None:
            return Results(query, "code", [_hit(case, "code", [])], direct=case)
    if after is None and len(compact) == TRACKING_LENGTH:
        hashed = tracking.secret_hash(compact)
        case = db.session.scalar(select(Case).where(Case.tracking_hash == hashed, visible))
        if case is not None:
            return Results(query, "tracking", [_hit(case, "tracking", [])], direct=case)

    phone = phone_digits(query)
    if phone is not None:
        if not access.can_see_informant(user):
            return Results(query, "phone", [], note="按电话号码查找仅限调处中心。")
        hits = _by_identity(user, {"phone": phone}) if after is None else []
        return Results(query, "phone", hits)

    identity_hits = []
    if after is None and access.can_see_informant(user):
        identity_hits = _by_identity(user, {"name": query, "wechat": query})
    words = runs(query)
    found = _by_words(user, words, after)
    more = len(found) > PAGE
    seen = {hit.case.id for hit in identity_hits}
    hits = identity_hits + [
        _hit(case, "text", words) for case in found[:PAGE] if case.id not in seen
    ]
    return Results(query, "text", hits, next_after=found[PAGE - 1].id if more else None)


def _by_identity(user: User, asked: dict[str, str]) -> list[Hit]:
    """Cases whose identity digests match (the center only; audited, without the query)."""
    wanted = {d: domain for domain, value in asked.items() for d in identity.digests(domain, value)}
    rows = db.session.execute(
        _loaded(
            select(Case, CaseIdentityDigest.kind)
            .join(CaseIdentityDigest, CaseIdentityDigest.case_id == Case.id)
            .where(CaseIdentityDigest.digest.in_(wanted), access.case_filter(user))
            .order_by(Case.id.desc())
            .limit(MAX_IDENTITY_HITS)
        )
    ).all()
    found: dict[int, Hit] = {}
    for case, kind in rows:
        if identity.DOMAIN[kind] not in asked:
            continue  # a name's digest never equals a phone's; kept apart all the same
        if case.id in found:
            found[case.id].matched += "、" + MATCHED[kind]
        else:
            found[case.id] = _hit(case, kind, [])
    if found or "phone" in asked:  # a phone is asked for on purpose: on record even if vain
        audit.record(
            "case.search_identity",
            actor=user,
            object_type="case",
            by=sorted(asked),
            found=[hit.case.code for hit in found.values()],
        )
    return list(found.values())


def _by_words(user: User, words: list[str], after: int | None) -> list[Case]:
    """Up to a page and one of the cases `user` may see whose words hold every run of
    `words`, newest first, below case id `after`."""
    # A reader held to some villages, or to a department's cases, asks the index for
    # those alone: a word common elsewhere then costs them nothing.
    scope = scope_terms(user)
    if db.session.get_bind().dialect.name == "sqlite":
        # The FTS5 table drives (its rowid order serves ORDER BY ... DESC, LIMIT stops it).
        phrase = " ".join(
            f'"{w}" *' if len(w) == 1 else '"' + " ".join(_bigrams(w)) + '"' for w in words
        )
        if scope is not None:
            phrase += " AND (" + " OR ".join(f'"{term}"' for term in scope) + ")"
        query = (
            select(Case)
            .select_from(_FTS)
            .join(Case, Case.id == _FTS.c.rowid)
            .where(literal_column("case_search_fts").op("MATCH")(phrase), access.case_filter(user))
        )
        if after is not None:
            query = query.where(_FTS.c.rowid < after)
        return list(
            db.session.scalars(_loaded(query.order_by(_FTS.c.rowid.desc()).limit(PAGE + 1)))
        )

    # A single character is a prefix ('漏':*): GIN gathers every term that starts with
    # it, across the whole table, before it can AND the rest (a grid worker's
    # 1-character search took 632 ms at ten million cases so).
    # - A reader of the whole town (no scope) asks the prefix, beside a longer word too: a
    #   common word would otherwise be read row by row across the town to find a rare
    #   character (575 ms against 1.3 ms for 鑫 纠纷 at 400,000 cases).
    # - A reader held to villages or a department has it checked on their cases instead
    #   (a term starting with it follows a space in the body): what that costs grows with
    #   what they may see in the window, not with the table; beside a longer word, with
    #   their cases holding that word.
    # - But not in the last window (all the rest of the ids) of a query of single
    #   characters alone by a reader of more than CHECKED_CASES cases: a character found
    #   in none of them would be checked on every one (a justice office's 311,000 cases at
    #   ten million: 17 s a query), where GIN answers a rare character at once (a common
    #   one, which their newest cases seldom lack, in 0.3-1 s).
    narrowed = scope is not None
    newest_windows = _pg_question(words, scope, checked=narrowed)
    only_characters = narrowed and all(len(w) == 1 for w in words)
    newest = after - 1 if after is not None else db.session.scalar(func.max(CaseSearchText.case_id))
    found: list[Case] = []
    if newest is None:
        return found
    for low, high in _windows(newest >> BUCKET_BITS):
        # The rest (low 0) is not narrowed by bucket: its matches are few (the newest
        # windows held under a page of them), and an OR of many buckets is slow in GIN.
        buckets = " | ".join(f"'~{b}'" for b in range(low, high + 1)) if low else ""
        wanted, phrases = newest_windows
        if low == 0 and only_characters and _sees_many(user):
            wanted, phrases = _pg_question(words, scope, checked=False)
        # The window's matches first, on their own (MATERIALIZED): ordered by id at once,
        # the planner would walk the primary key testing each row, and it reckons a phrase
        # far rarer than it is (a word found nowhere took seconds that way).
        matches = (
            select(CaseSearchText.case_id)
            .where(
                text(f"{_PG_TERMS} @@ CAST(:wanted AS tsquery)").bindparams(
                    wanted=f"({wanted}) & ({buckets})" if buckets else wanted
                ),
                CaseSearchText.case_id <= min(newest, ((high + 1) << BUCKET_BITS) - 1),
                *phrases,
            )
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
        window = (
            select(Case)
            .join(matches, matches.c.case_id == Case.id)
            .where(access.case_filter(user))
            .order_by(Case.id.desc())
            .limit(PAGE + 1 - len(found))
        )
        found += db.session.scalars(_loaded(window))
        if len(found) > PAGE:
            break
    return found


def _pg_question(words: list[str], scope: list[str] | None, *, checked: bool):
    """The tsquery of `words` (and `scope`) and the LIKE tests of a window on PostgreSQL
    (`checked`: single characters tested in the body, not asked of the index)."""
    asked = [f"'{w}':*" if len(w) == 1 else _and(w) for w in words if len(w) > 1 or not checked]
    if scope is not None:
        asked.append("(" + " | ".join(f"'{term}'" for term in scope) + ")")
    # Consecutive terms: a longer word's phrase itself, not only its bigrams somewhere;
    # and a checked single character, as a term's beginning.
    patterns = ["% " + " ".join(_bigrams(w)) + " %" for w in words if len(w) > 2]
    patterns += [f"% {w}%" for w in words if len(w) == 1 and checked]
    tests = [
        text(f"(' ' || case_search.body || ' ') LIKE :phrase{n}").bindparams(
            **{f"phrase{n}": pattern}
        )
        for n, pattern in enumerate(patterns)
    ]
    return " & ".join(asked), tests


# A reader held to more cases than this has a query of single characters asked of the
# index as prefixes in the last window of a search, not checked on each of their cases
# (`_by_words`). Checked at ten million cases: a village's 22,000 cost 0.12-0.15 s, a
# legal advisor's 27,000 0.13-0.17 s, a police station's 80,000 3 s; asked, 20 ms for a
# character they have none of, 0.3-1 s for a common one.
CHECKED_CASES = 50_000


def _sees_many(user: User) -> bool:
    """Whether the villages or the department `user` is held to have more than
    CHECKED_CASES cases: an estimate, read from their index up to that bound (a few ms),
    which only chooses how to search. A department's is its assignments (a case sent to
    it twice counts twice); villages', their cases (a grid worker may not see some)."""
    villages, department = access.village_scope(user), access.department_reach(user)
    if villages is not None:
        theirs = select(Case.id).where(Case.village_id.in_(villages))
    elif department is not None:
        theirs = select(CaseAssignment.case_id).where(CaseAssignment.department_id == department)
    else:
        return False  # a reader of the whole town: nothing to check on
    counted = select(func.count()).select_from(theirs.limit(CHECKED_CASES + 1).subquery())
    return db.session.scalar(counted) > CHECKED_CASES


def scope_terms(user: User) -> list[str] | None:
    """The terms of the cases `user` may see at most, asked of the index beside their
    words: a grid worker's villages, a handler's department; None for a reader of a whole
    town or more. The access policy still decides each case found."""
    villages = access.village_scope(user)
    if villages is not None:
        return [village_term(v) for v in sorted(villages)]
    department = access.department_reach(user)
    if department is not None:
        return [department_term(department)]
    return None


def _windows(top: int):
    """Ranges of buckets from `top` down: 1, 4 and 16 buckets, then all the rest."""
    for size in (1, 4, 16):
        if top < size:
            break
        yield top - size + 1, top
        top -= size
    if top >= 0:
        yield 0, top


def _bigrams(word: str) -> list[str]:
    return [word[i : i + 2] for i in range(len(word) - 1)]


def _and(word: str) -> str:
    return " & ".join(f"'{b}'" for b in dict.fromkeys(_bigrams(word)))


def _loaded(query: Select) -> Select:
    """What a result row shows, loaded with the page (no query per row)."""
    return query.options(
        selectinload(Case.category), selectinload(Case.village), selectinload(Case.parties)
    )


def _hit(case: Case, matched, words: list[str]) -> Hit:
    return Hit(case, MATCHED[matched], snippet(case, words))


def snippet(case: Case, words: list[str], width: int = 60) -> tuple[str, str, str]:
    """Where the first word appears in the description, place or parties' names (no
    informant's identity is ever among them), else the description's beginning."""
    texts = [case.description or "", case.place_text or ""]
    texts.append("当事人：" + "、".join(p.name for p in case.parties) if case.parties else "")
    for word in words[:1]:
        for whole in texts:
            folded = unicodedata.normalize("NFKC", whole).lower()
            at = _find(folded, word)
            if at is not None and len(folded) == len(whole):
                start, end = at
                lead = max(0, start - width // 3)
                tail = end + width - (end - lead)
                return (
                    ("…" if lead else "") + whole[lead:start],
                    whole[start:end],
                    whole[end:tail] + ("…" if tail < len(whole) else ""),
                )
    text_ = texts[0]
    return (text_[:width] + ("…" if len(text_) > width else ""), "", "")


def _find(folded: str, word: str) -> tuple[int, int] | None:
    """Where `word`'s characters stand in `folded`, letting separators come between."""
    pattern = r"[\W_]*".join(map(re.escape, word))
    found = re.search(pattern, folded)
    return (found.start(), found.end()) if found else None
