"""All settings in one place, read from the environment (prefix ``LIANDONG_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path.cwd() / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIANDONG_", extra="ignore")

    database_url: str = ""
    """SQLAlchemy URL; an SQLite file under ./var/ when empty."""
    database_replica_url: str = ""
    """A PostgreSQL hot standby of ``database_url`` that dashboards, assessment and reports read from
    (ops/replica.py); none when empty."""
    replica_max_lag_seconds: float = 30.0
    """A replica further behind the primary than this is passed over: its readers read the primary."""

    # Passwords (argon2id). The defaults are argon2-cffi's; tests lower them for speed.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    token_ttl_hours: int = 12
    """Lifetime of bearer tokens and web sessions."""
    dedupe_auto: float = 0.85
    """A new report scoring this high against an open case nearby is merged into it (cases/dedupe.py)."""
    dedupe_review: float = 0.6
    """From this score up (below dedupe_auto) the pair waits in the review queue; above 1 turns dedupe off."""
    rate_limit_storage: str = "memory://"
    """Where rate-limit counters live (``limits`` storage URI): memory:// per process, or e.g.
    redis://127.0.0.1:6379 to share them between processes."""
    citizen_report_limit: str = "5/10minutes"
    """Reports one address may send through /report (and /api/v1/public/reports)."""
    public_read_limit: str = "120/minute"
    open311_jurisdiction: str = "310112"
    """The jurisdiction_id this Open311 endpoint answers for (Minhang's division code)."""
    open311_key_limit: str = "600/hour"
    """Requests one Open311 API key may create."""
    live_poll_seconds: float = 0.25
    """How often each process looks for new case events to push to open screens (SSE)."""
    principal_cache_seconds: float = 10.0
    """How long a process trusts what it looked up about a token (auth/principals.py); 0 = always look up."""
    lockout_threshold: int = 5
    """Consecutive failed logins that lock an account."""
    lockout_minutes: int = 15

    demo_password: str = ""
    demo_open311_key: str = ""

    grid_target_m2: float = 10_000.0
    """Target area of a generated unit grid (万米单元网格)."""

    index_check_seconds: float = 2.0
    """How often a process checks whether the area tables changed under its grid index."""

    work_hours: str = "08:30-11:30,13:00-17:30"
    """Working hours of a working day (local time), for deadlines in working hours and days."""
    timezone: str = "Asia/Shanghai"
    pause_on_extension: bool = True
    """Whether a stage's clock stops while an extension request waits for a decision."""
    partition_check_minutes: float = 60.0
    """How often the running app makes the coming months' partitions of the history (PostgreSQL; 0: never, then
    run ``liandong partitions ensure`` from a timer)."""
    ready_keep_seconds: float = 1.0
    """How long ``/readyz`` keeps its answer (its check takes the write lock: a flood of probes must not queue the
    writers behind it); 0 checks on every call."""
    sweep_seconds: float = 60.0
    """How often the running app looks for overdue stages (0 turns the in-app sweep off)."""

    incident_report_limit_minutes: int = 240
    """Minutes from discovery within which a grade Ⅰ or Ⅱ incident must be reported upward (五早: 早报告)."""
    task_ack_minutes: float = 15.0
    """Minutes within which a unit must acknowledge a plan task that asks for it; past that the sweep escalates the
    task once (natural time: emergencies do not wait for working hours)."""
    plans_dir: str = ""
    """The contingency plan library (YAML files); the demo plans shipped in emergency/plans/library/ when empty."""

    cap_admin_code: str = "310112"
    """ZZZZZZ of CAP identifiers (GB/T 35965.1-2018): the issuer's 6-digit administrative code (GB/T 2260)."""
    cap_institution_code: str = "000"
    """DDD: the issuer's 3-digit institution/industry code (GB/T 4657)."""
    cap_unit_code: str = "000"
    """UUU: the issuer's internal code."""
    cap_extension_code: str = "00"
    """XX: the identifier's extension code."""
    cap_sender: str = ""
    """CAP ``sender``; empty: the issuer code ZZZZZZDDDUUUXX of the identifiers."""
    public_base_url: str = ""
    """The site's public address (``https://yjxx.example.gov.cn``): CAP documents and the Atom feed are published
    under it. Empty: the address of the request (fine for one host; set it when the app sits behind a proxy)."""
    cap_sender_name: str = "闵行区城市运行和应急联动指挥中心"
    """CAP ``senderName``: the issuing centre as people read it."""
    cap_signing_key: str = ""
    """Path of a PEM private key: when set (with ``cap_signing_cert``), issued CAP documents carry an enveloped
    XML signature."""
    cap_signing_cert: str = ""
    """Path of the PEM X.509 certificate matching ``cap_signing_key`` (embedded in the signature)."""
    cap_max_bytes: int = 512 * 1024
    """Largest CAP document (or polled feed) accepted, in bytes; a larger upload is answered 413."""
    cap_feed_urls: str = ""
    """Atom/RSS feeds of CAP alerts the running app polls (comma-separated URLs); none when empty."""
    cap_poll_seconds: float = 300.0
    """How often the running app polls ``cap_feed_urls`` (0 turns the in-app poller off)."""
    cap_poll_timeout_seconds: float = 10.0
    """Timeout of one HTTP request made while polling a feed."""
    early_warning_scan_minutes: float = 60.0
    """How often the running app scans the recent reports for early warnings (早研判); 0 turns the in-app scan off.
    Safe with several processes: each cluster is stored once."""
    assessment_refresh_minutes: float = 10.0
    """How often the running app brings the assessment's month figures up to date (``assessment/months.py``: drop
    the months new events touched, store the months missing up to yesterday); 0 turns it off (then run ``liandong
    assessment refresh``). Until a month is stored again, the assessment reads it from the facts."""

    upload_dir: str = ""
    """Where case photos are stored; ./var/uploads when empty."""
    max_upload_bytes: int = 10 * 1024 * 1024

    tile_url: str = ""
    """Optional base-map tile URL template for the map page (none by default: no internet)."""

    cookie_secure: bool = False

    log_format: str = "json"
    """``json`` (one JSON object per line, for journald and log shippers) or ``text`` (for reading by eye)."""
    log_level: str = "info"
    """Level of the platform's logs (and of uvicorn's, ``liandong serve``)."""
    metrics_token: str = ""
    """Bearer token that ``/metrics`` asks of every caller; empty: only direct loopback callers (no proxy) may read
    it."""

    def uploads(self) -> Path:
        path = Path(self.upload_dir) if self.upload_dir else VAR_DIR / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{VAR_DIR / 'liandong.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
