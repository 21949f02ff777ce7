"""Search on a million cases: median and p90 of each kind of query, for the center and
for a grid worker, on whichever database DATABASE_URL names.

Seeds a database of its own (SQLite: the file --database, default
instance/bench_search.sqlite3; PostgreSQL: the database `<name>_bench_search` on the server
DATABASE_URL names) with the demo town and N cases of generated Chinese text, parties,
informants (their identity sealed and hashed as the app does) and tracking codes; a
database already seeded with N cases is reused (--reseed seeds it anew). Seeding writes
rows in bulk (SQLite: executemany in one transaction; PostgreSQL: COPY), with the
secondary indexes and the search triggers dropped and made again afterwards (the same
statements, read back from the database), then rebuilds the full-text index once.
Then it times `server.cases.search.search` (the query, the page's cases and snippets)
for each kind of query, cycling through several values of each. Goal (issue 17): every
median under 200 ms at 1,000,000 cases on both databases. CI never runs it.

    .venv/bin/python benchmarks/bench_search.py [--cases 1000000] [--runs 40]
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/grid_report \\
        .venv/bin/python benchmarks/bench_search.py

Measured 2026-12-05 on this 2-core machine (shared), 1,000,000 cases (+42 of the demo
town), 40 runs each after 2 to warm up; ms as median / p90, center | grid worker (one
village of 45; "other village": another village's name, of which they may see nothing):

    SQLite 3.40 (FTS5)    seeded in 115 s, file 1,213 MiB, FTS5 index 131 MiB
      case code        0.7 / 0.8  |  2.1 / 2.8     phone       2.2 / 2.5  |  (refused)
      tracking code    0.7 / 0.9  |  2.3 / 2.5     2-char word 8.2 / 9.3  |  5.6 / 9.2
      4-char phrase    5.3 / 6.1  |  5.4 / 5.7     place       6.3 / 8.0  |  4.4 / 4.5
      1 character      8.0 / 13.4 | 11.9 / 16.3    other village 4.6 / 4.8 | 12.5 / 12.7
    PostgreSQL 15 (GIN)   seeded in 108 s, database 1,318 MiB, GIN index 77 MiB
      case code        2.4 / 2.8  | 10.5 / 13.9    phone       5.0 / 6.6  |  (refused)
      tracking code    1.8 / 2.0  | 10.6 / 14.8    2-char word 8.7 / 11.1 | 23.7 / 28.8
      4-char phrase    9.1 / 11.5 | 25.9 / 30.7    place       7.1 / 7.4  | 21.9 / 24.4
      1 character     17.4 / 20.3 | 30.4 / 33.2    other village 14.3 / 15.8 | 23.7 / 25.2

(A case code or tracking code the grid worker may not see is then looked up as words.)

A handler (--handler, --handler-name), measured 2026-12-06 with assignments added to the
seed: on PostgreSQL a justice office of 500 cases took 180-520 ms a query when its few
matches were sought among the town's (every window read); searched from its own cases
(search.DEPARTMENT_DRIVES) it takes 11-16 ms. A police station of 50,000 cases, above
that bound, keeps the windows: 15-38 ms. On SQLite a handler with no case at all, the
worst case there, takes 47-125 ms (FTS5 walks every match).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from town import demo_town

from server import create_app
from server.cases import search, tracking
from server.db import db
from server.models import Case, User, Village
from server.trust import identity

TABLES = ("case_file", "case_party", "case_search", "case_identity_digest")
NAMED_SHARE = 0.3  # reports whose informant gave a name or phone
TRACKED_SHARE = 0.3  # villagers' reports, with a tracking code
DISPUTE_SHARE = 0.6  # cases that name parties

SUBJECTS = [
    "两户邻居", "村民", "兄弟两家", "承包户", "租户", "老人", "养殖户", "外来务工人员",
    "婆媳", "夫妻", "前后院两家", "村民小组", "包工头", "小卖部老板", "合作社",
]  # fmt: skip
CAUSES = [
    "因宅基地边界", "因土地承包", "因院墙排水", "因拖欠工资", "因借款不还", "因赡养老人",
    "因噪音扰民", "因楼上漏水", "因家禽散养", "因修路占地", "因婚姻家庭", "因坟地迁移",
    "因树木遮挡采光", "因鱼塘承包到期", "因车辆剐蹭", "因狗咬伤人", "因彩礼退还",
    "因山林权属", "因灌溉用水", "因征地补偿款分配",
]  # fmt: skip
OUTCOMES = [
    "发生争吵", "产生纠纷", "多次冲突", "互不相让", "已发生推搡", "扬言要动手",
    "要求村里调解", "多次上门讨要", "协商不成", "情绪激动",
]  # fmt: skip
DETAILS = [
    "涉及金额约{n}万元", "已持续{n}个月", "村干部已上门劝解未果", "现场有{n}人围观",
    "请求镇里协调处理", "双方各执一词", "一方已找律师咨询", "曾经调解过一次",
    "院墙出现裂缝", "电线老化有火灾隐患", "柴草堆放紧挨电线杆", "液化气罐放在灶边",
    "河道堆放大量建筑垃圾", "夜间有人焚烧秸秆", "桥护栏损坏晚上没有路灯",
    "有人在河道用电网捕鱼", "卫生间漏水渗到楼下", "天花板大面积渗水", "院内积水无法排出",
    "拖欠{n}名农民工的工资", "对方拒不承认借条", "老人生活无人照料",
]  # fmt: skip
PLACES = [
    "{v}{n}组", "{v}村西胡同", "{v}东头", "{v}村委会门口", "{v}卫生所", "{v}小学旁",
    "县道{n}公里处", "{v}北河道", "{v}南承包地", "{v}文化广场", "{v}集市", "{v}{n}号院",
]  # fmt: skip
SURNAMES = "张李王刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "建国秀英志强桂兰春生玉梅德福海军丽华明亮红霞文博淑珍振华凤英永刚金凤国庆翠花晓东"

# What each kind of query asks (cycled through over the runs).
WORDS_2 = ["漏水", "工资", "土地", "噪音", "彩礼", "坟地", "鱼塘", "推搡"]
PHRASES_4 = ["拖欠工资", "火灾隐患", "土地承包", "院墙排水", "赡养老人", "车辆剐蹭"]
PLACE_WORDS = ["西胡同", "卫生所", "文化广场", "北河道", "小学旁", "承包地"]


def _name(rng: random.Random) -> str:
    given = GIVEN[rng.randrange(len(GIVEN))]
    if rng.random() < 0.6:
        given += GIVEN[rng.randrange(len(GIVEN))]
    return rng.choice(SURNAMES) + given


def _phone(i: int) -> str:
    return f"13{(i * 7919) % 1_000_000_000:09d}"


def _story(rng: random.Random, village: str) -> tuple[str, str]:
    parts = [rng.choice(SUBJECTS) + rng.choice(CAUSES) + rng.choice(OUTCOMES)]
    for _ in range(rng.randrange(1, 4)):
        parts.append(rng.choice(DETAILS).format(n=rng.randrange(2, 30)))
    place = rng.choice(PLACES).format(v=village, n=rng.randrange(1, 12))
    return "，".join(parts) + "。", place


def _code(i: int) -> str:
    return f"S{i:011d}"  # 12 characters of the case-number alphabet


def _secret(i: int) -> str:
    return f"T{i:025d}"  # 26: a tracking code


def seed(count: int) -> float:
    """Bulk-insert `count` cases with their parties, words and digests; seconds taken."""
    villages = {v.id: v.name for v in db.session.scalars(select(Village))}
    village_ids = sorted(villages)
    categories = [c for (c,) in db.session.execute(text("SELECT id FROM category")).all()]
    first_id = (db.session.scalar(select(func.max(Case.id))) or 0) + 1
    party_id = (db.session.scalar(text("SELECT max(id) FROM case_party")) or 0) + 1
    rng = random.Random(17)  # noqa: S311 - synthetic data
    now = datetime.now(UTC)
    started = time.perf_counter()
    connection = db.session.connection()
    recreate = _drop_secondary(connection)
    cases, parties, bodies, digests = [], [], [], []
    sealed_name = identity.seal("王先生")
    for i in range(count):
        case_id = first_id + i
        village = rng.choice(village_ids)
        created = now - timedelta(minutes=(count - i) * 2.5 + rng.randrange(0, 2))
        closed = rng.random() < 0.97
        description, place = _story(rng, villages[village])
        named = rng.random() < NAMED_SHARE
        tracked = not named and rng.random() < TRACKED_SHARE / (1 - NAMED_SHARE)
        phone = _phone(i) if named else None
        cases.append(
            (
                case_id,
                _code(i),
                "qr",
                village,
                rng.choice(categories),
                "general",
                "yellow",
                2,
                False,
                False,
                False,
                False,
                False,
                description,
                place,
                not named,
                sealed_name if named else None,
                identity.seal(phone) if named else None,
                False,
                tracking.secret_hash(_secret(i)) if tracked else None,
                "closed" if closed else "submitted",
                None if closed else "accept",
                None if closed else created + timedelta(days=2),
                False,
                False,
                created,
                created + timedelta(days=9) if closed else created,
                created + timedelta(days=9) if closed else None,
                1,
            )
        )
        names = []
        if rng.random() < DISPUTE_SHARE:
            for side in ("applicant", "respondent"):
                name = _name(rng)
                party_phone = _phone(count + 2 * i + len(names)) if rng.random() < 0.3 else None
                names.append(name)
                parties.append(
                    (party_id, case_id, side, "person", name, party_phone, name, party_phone)
                )
                party_id += 1
                if party_phone:
                    digests.append((case_id, "party_phone", identity.digest("phone", party_phone)))
        if named:
            digests.append((case_id, "reporter_name", identity.digest("name", "王先生")))
            digests.append((case_id, "reporter_phone", identity.digest("phone", phone)))
        bodies.append((case_id, search.body_of(village, description, place, names)))
        if len(cases) >= 50_000 or i == count - 1:
            _write(connection, cases, parties, bodies, digests)
            cases, parties, bodies, digests = [], [], [], []
            print(f"  {i + 1:,} cases written ({time.perf_counter() - started:.0f} s)", flush=True)
    for statement in recreate:
        connection.exec_driver_sql(statement)
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("INSERT INTO case_search_fts(case_search_fts) VALUES('rebuild')")
    db.session.commit()
    if connection.dialect.name == "sqlite":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - started


CASE_COLUMNS = (
    "id, code, source, village_id, category_id, severity, risk_level, people_involved,"
    " group_dispute, criminal_risk, urgent, happening_now, repeat_dispute, description,"
    " place_text, reporter_anonymous, reporter_name, reporter_phone, held_as_spam,"
    " tracking_hash, status, step, due_at, supervised, escalated, created_at, updated_at,"
    " closed_at, version"
)
PARTY_COLUMNS = "id, case_id, side, kind, name, phone, name_key, phone_key"


def _write(connection, cases, parties, bodies, digests) -> None:
    """One batch of rows: executemany on SQLite, COPY on PostgreSQL."""
    batches = [
        ("case_file", CASE_COLUMNS, cases),
        ("case_party", PARTY_COLUMNS, parties),
        ("case_search", "case_id, body", bodies),
        ("case_identity_digest", "case_id, kind, digest", digests),
    ]
    driver = connection.connection.driver_connection
    for table, columns, rows in batches:
        if not rows:
            continue
        if connection.dialect.name == "sqlite":
            rows = [tuple(_sqlite(v) for v in row) for row in rows]
            marks = ", ".join("?" * len(rows[0]))
            statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 - ours
            driver.executemany(statement, rows)
        else:
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)


def _sqlite(value):
    """A value as SQLAlchemy writes it to SQLite (UTC times without their zone)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _drop_secondary(connection) -> list[str]:
    """Drop the seeded tables' secondary indexes (and SQLite's search triggers); the
    statements that make them again."""
    if connection.dialect.name == "sqlite":
        found = f"SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN {TABLES}"  # noqa: S608 - constants
        rows = connection.exec_driver_sql(
            found + " AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        ).all()
        for kind, name, _sql in rows:
            connection.exec_driver_sql(f"DROP {kind.upper()} {name}")
        return [sql for _kind, _name, sql in rows]
    found = f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN {TABLES}"  # noqa: S608 - constants
    rows = connection.exec_driver_sql(
        found + " AND indexname NOT LIKE 'pk_%%' AND indexname NOT LIKE 'uq_%%'"
    ).all()
    for name, _sql in rows:
        connection.exec_driver_sql(f"DROP INDEX {name}")
    connection.exec_driver_sql("SET maintenance_work_mem = '1GB'")
    return [sql for _name, sql in rows]


def database_url(args) -> str:
    """The benchmark's own database, made if need be."""
    url = make_url(os.environ.get("DATABASE_URL", "sqlite:///"))
    if url.get_backend_name() == "sqlite":
        path = Path(args.database or Path("instance") / "bench_search.sqlite3").resolve()
        if args.reseed and path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    name = f"{url.database or 'grid_report'}_bench_search"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if args.reseed or not exists.first():
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def size_of_database() -> str:
    if db.engine.dialect.name == "sqlite":
        path = Path(db.engine.url.database)
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
        total = sum(f.stat().st_size for f in files if f.exists())
    else:
        total = db.session.scalar(text("SELECT pg_database_size(current_database())"))
    return f"{total / 2**20:,.0f} MiB"


def search_index_size() -> str:
    if db.engine.dialect.name == "sqlite":
        try:
            pages = db.session.scalar(
                text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'case_search_fts%'")
            )
        except Exception:
            return "?"
        return f"FTS5 {pages / 2**20:,.0f} MiB"
    size = db.session.scalar(text("SELECT pg_relation_size('ix_case_search_terms')"))
    return f"GIN {size / 2**20:,.0f} MiB"


def known_values(first_id: int) -> tuple[list[str], list[str]]:
    """Tracking codes and phones of seeded cases (the seed's numbering gives them back)."""
    tracked = db.session.scalars(
        select(Case.id).where(Case.id >= first_id, Case.tracking_hash.is_not(None)).limit(2000)
    ).all()
    named = db.session.scalars(
        select(Case.id).where(Case.id >= first_id, Case.reporter_phone.is_not(None)).limit(2000)
    ).all()
    rng = random.Random(3)  # noqa: S311
    secrets = [tracking.display(_secret(i - first_id)) for i in rng.sample(tracked, 20)]
    phones = []
    for i in rng.sample(named, 20):
        digits = _phone(i - first_id)
        phones.append(f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}")
    return secrets, phones


def measure(user, values: list[str], runs: int) -> tuple[float, float, int]:
    """Median and p90 in ms of `runs` searches cycling through `values`; hits of the last."""
    times, hits = [], 0
    for n in range(runs + 2):
        started = time.perf_counter()
        found = search.search(user, values[n % len(values)])
        elapsed = time.perf_counter() - started
        hits = len(found.hits)
        db.session.rollback()  # the audit row of an identity search
        if n >= 2:  # the first two warm the caches
            times.append(elapsed)
    times.sort()
    return statistics.median(times) * 1000, times[int(0.9 * (len(times) - 1))] * 1000, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--database", help="SQLite file (kept between runs)")
    parser.add_argument("--reseed", action="store_true", help="seed a fresh database")
    parser.add_argument("--handler", action="store_true", help="time a handler's search too")
    parser.add_argument("--handler-name", default="police", help="whose (a handler's username)")
    args = parser.parse_args()
    url = database_url(args)
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        print(f"database: {db.engine.dialect.name} {db.engine.url.database}")
        seeded = 0
        try:
            seeded = db.session.scalar(select(func.count()).select_from(Case)) or 0
        except Exception:  # a new database has no tables yet
            db.session.rollback()
        if seeded < args.cases:
            demo_town()
            print(f"seeding {args.cases:,} cases ...")
            seconds = seed(args.cases)
            print(f"seeded {args.cases:,} cases in {seconds:.0f} s")
        first_id = db.session.scalar(select(Case.id).where(Case.code == _code(0)))
        total = db.session.scalar(select(func.count()).select_from(Case))
        print(f"{total:,} cases; database {size_of_database()}; {search_index_size()}")
        secrets, phones = known_values(first_id)
        center = db.session.scalar(select(User).where(User.username == "center"))
        worker = db.session.scalar(select(User).where(User.username == "grid07"))
        # A department's handler: the seeded cases were never dispatched, so none is
        # theirs unless assignments are added, and every match is looked at and refused.
        handler = db.session.scalar(select(User).where(User.username == args.handler_name))
        others = db.session.scalars(
            select(Village.name).where(Village.id.not_in(worker.village_ids)).limit(3)
        ).all()
        kinds = {
            "case code": [_code(i) for i in random.Random(5).sample(range(args.cases), 20)],  # noqa: S311
            "tracking code": secrets,
            "phone": phones,
            "2-char word": WORDS_2,
            "4-char phrase": PHRASES_4,
            "place": PLACE_WORDS,
            "1 character": ["漏", "债", "桥"],
            # Every case of another village: the grid worker may see none of them.
            "other village": others,
        }
        print(f"{'query':16} {'who':12} {'median ms':>9} {'p90 ms':>8} {'hits':>5}")
        worst = 0.0
        for kind, values in kinds.items():
            people = [("center", center), ("grid worker", worker)]
            if args.handler:
                people.append(("handler", handler))
            for who, user in people:
                median, p90, hits = measure(user, values, args.runs)
                worst = max(worst, median)
                print(f"{kind:16} {who:12} {median:9.1f} {p90:8.1f} {hits:5d}")
        print(f"worst median: {worst:.1f} ms (goal: under 200 ms)")


if __name__ == "__main__":
    main()
