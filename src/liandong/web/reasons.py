"""The server's refusal reasons in Chinese for the pages (the API itself speaks English), and for the emergency
refusals a plainer English too (``_EN``; the others keep the API's English in an English page).

A page's own fetch() calls carry ``Sec-Fetch-Site: same-origin``; for those the error handler gives the
reason in the page's language (the ``lang`` cookie, Chinese by default) and keeps the original as
``detail_en``. Reasons are looked up by the refusal's machine code (``errors.DomainError.code``), their
values taken from its ``params`` — never by matching the English text, which may be reworded freely. Only
the refusals people meet in the pages are listed; any other stays in English. A test checks that every
code listed here is raised somewhere, and that every code the case service raises is listed.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from liandong.web.i18n import MESSAGES, lang_of

_FIELDS = {"note": "说明", "reason": "原因", "master_id": "主案件", "satisfaction": "满意度", "amount": "延期数量",
           "unit": "延期单位", "lead_unit_id": "主办单位", "assisting_unit_ids": "协办单位", "version": "版本",
           "expires": "失效时间"}
"""Payload fields of the case actions (cases/payloads.py) and of a warning (emergency/cap/payloads.py), as the pages
name them."""
_FIELD_RULES = {"amount": "延期数量须大于 0 且不超过 365", "note": "说明和原因最多 2000 个字",
                "reason": "说明和原因最多 2000 个字", "satisfaction": "请选择满意度"}
"""What a field wrongly filled must be, where the pages say more than "wrongly filled"."""


def _field(params: dict) -> str:
    name = str(params.get("field", "")).split(".")[0]
    return _FIELDS.get(name, name)


def _invalid(params: dict) -> str:
    name = str(params.get("field", "")).split(".")[0]
    return _FIELD_RULES.get(name) or f"{_field(params)}填写有误"


def _ids(params: dict) -> str:
    return "、".join(str(x) for x in params.get("units", []))


_LEVEL_ZH = {1: "一级响应", 2: "二级响应", 3: "三级响应", 4: "四级响应"}


def _level(value) -> str:
    return _LEVEL_ZH.get(value, str(value))


def _where(params: dict, lang: str) -> str:
    """Where in a CAP document a refusal lies (its ``element`` and ``line``), as a parenthesis; empty when unknown."""
    element, line = params.get("element"), params.get("line")
    name = f"<{element}>" if element else ""
    if lang == "zh":
        parts = [f"元素 {name}" if name else "", f"第 {line} 行" if line else ""]
        text = "，".join(p for p in parts if p)
        return f"（{text}）" if text else ""
    parts = [f"element {name}" if name else "", f"line {line}" if line else ""]
    text = ", ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def _cap(zh: str, en: str) -> tuple[Callable[[dict], str], Callable[[dict], str]]:
    """A CAP document's refusal in both languages, followed by where it lies."""
    return (lambda p: zh + _where(p, "zh")), (lambda p: en + _where(p, "en"))


def _limit(params: dict, lang: str) -> str:
    limit = params.get("max_bytes")
    if lang == "zh":
        return f"文档超过大小上限{f' {limit} 字节' if limit else ''}"
    return f"The document is larger than the limit{f' of {limit} bytes' if limit else ''}"


_CAP = {
    "cap_invalid": _cap("文档不符合 CAP 规范", "The document breaks a rule of CAP"),
    "cap_schema": _cap("文档不符合 CAP 的 XML 架构", "The document does not follow the CAP schema"),
    "cap_not_xml": _cap("文档不是格式正确的 XML", "The document is not well-formed XML"),
    "cap_not_cap": _cap("这不是 CAP 1.1 或 1.2 文档：根元素应为 <alert>",
                        "This is not a CAP 1.1 or 1.2 document: its root must be <alert>"),
    "cap_encoding": _cap("文档编码不受支持，请使用 UTF-8 或 ISO-8859-1",
                         "The document's encoding is not supported: use UTF-8 or ISO-8859-1"),
    "cap_dtd_forbidden": _cap("文档含有 DTD 或实体声明，为安全起见拒收且不予解析",
                              "The document declares a DTD or entities: refused unread, for safety"),
    "cap_entity_forbidden": _cap("文档引用了实体，为安全起见拒收且不予解析",
                                 "The document uses an entity: refused unresolved, for safety"),
    "cap_too_large": ((lambda p: _limit(p, "zh")), (lambda p: _limit(p, "en"))),
    "cap_not_feed": ("该地址既不是 Atom 或 RSS 订阅源，也不是 CAP 文档",
                     "The address is neither an Atom or RSS feed nor a CAP document"),
    "cap_not_found": ("未找到该预警", "No such warning"),
    "unsupported_media_type": ("请以 XML（application/xml）提交 CAP 文档",
                               "Send the CAP document as XML (application/xml)"),
    "unknown_status": ("预警性质须为 Actual（实际）或 Exercise（演练）", "The status must be Actual or Exercise"),
    "warning_conflict": ("与本事件已发布的预警不衔接", "This does not follow the incident's warnings so far"),
    "incident_closed": ("事件已关闭：不能再发布预警，请解除已发布的预警",
                        "The incident is closed: no new warning; cancel the one issued"),
    "warning_in_force": ("预警 {identifier} 仍然有效：请发布更新或解除",
                         "Warning {identifier} is in force: issue an Update or a Cancel"),
    "no_alert": ("本事件尚未发布预警，不能更新或解除", "No warning was issued for this incident: nothing to update "
                                                           "or cancel"),
    "warning_cancelled": ("本事件的预警已解除（{identifier}），请重新发布",
                          "The incident's warning was cancelled ({identifier}): issue a new Alert"),
    "expires_in_past": ("失效时间须晚于发布时间", "The expiry must lie after the time of sending"),
    "expires_too_far": ("失效时间过远，请以更新的方式延续预警",
                        "The expiry lies too far ahead: renew the warning with an Update instead"),
    "identifier_sequence_full": ("本秒内发布的预警过多，请稍后再试",
                                 "Too many warnings issued in this second: try again in a moment"),
}
"""The CAP refusals (emergency/cap/): (Chinese, English)."""


def _tier_zh(tier: str | None) -> str:
    return MESSAGES.get(f"md.tier.{tier}", (tier or "",))[0]


_EW_STATUS_ZH = {"new": "为新发现", "watching": "正在关注中", "dismissed": "已排除", "promoted": "已升级为事件"}
"""An early warning's status as the refusal ``warning_status`` names it."""

_ZH: dict[str, str | Callable[[dict], str]] = {
    # reporting (desk, phone app, citizens)
    "outside_district": "该位置不在本区范围内，请在地图上重新选点",
    "no_grid_in_jurisdiction": "该位置不在您的辖区内",
    "outside_jurisdiction": "该位置不在您的辖区内",
    "unknown_matter": "未知的问题类型 {matter}",
    "bad_description": "问题描述须为 1–2000 个字",
    "bad_reporter": "姓名最多 100 个字，电话最多 32 位",
    "bad_phone": "电话须为 5–20 位，只能包含数字、空格和 + - ( )",
    "id_number_format": "身份证号应为 17 位数字加 1 位校验码（数字或 X）",
    "id_number_birth_date": "身份证号中的出生日期无效",
    "id_number_check_digit": "身份证号校验码不正确",
    "idempotency_key_reused": "该报告编号已用于另一份报告",
    "photo_type": "只接受 JPEG、PNG 或 WebP 格式的照片",
    "empty_file": "文件为空",
    "file_too_large": "文件大小 {size} 字节，超过上限 {max} 字节",
    "report_too_large": "报告大小 {size} 字节，超过上限 {max} 字节",
    "too_many_requests": "操作过于频繁，请稍后再试",
    "report_not_found": "查无此报告：请核对跟踪号和查询码",
    "nul_character": "内容中含有不允许的空字符",
    # acting on cases
    "unknown_action": "未知的操作 {action}",
    "case_not_found": "未找到案件 {case_id}，或不在您的辖区内",
    "not_allowed_in_state": "当前状态下不能执行该操作",
    "stale": "已被他人更改，请刷新后重试",
    "role_needed": "您的角色不能执行该操作",
    "missing_field": lambda p: f"请填写必填项（{_field(p)}）",
    "invalid_field": _invalid,
    "not_assigned": "该案件未派给您的单位",
    "part_not_ready": "贵单位在本案中的任务状态不允许该操作",
    "assistants_busy": "协办单位尚未完成各自部分，主办单位需待其完成后再反馈办结",
    "lead_only": "只有主办单位可以申请延期",
    "extension_pending": "已有延期申请等待审批",
    "no_extension_pending": "没有待审批的延期申请",
    "already_rated": "已经评价过了：每件只评价一次",
    "master_not_closed": "该案件并入 {master} 办理，待其结案后才能评价",
    "no_lead_unit": "请选择主办单位（系统无法为该案件提出建议）",
    "unknown_units": lambda p: f"未知的单位：{_ids(p)}",
    "bad_master": "请填写另一件案件作为主案件",
    "master_merged": "案件 {master_id} 已并入案件 {master}，请合并到该主案件",
    "master_ended": "案件 {master_id} 已办结（驳回、作废或合并），请合并到办理中或已结案的案件",
    # incidents, plans and tasks (emergency/)
    "incident_not_found": "未找到事件 {incident_id}，或不在您的辖区内",
    "unknown_commander": "{username} 不是在岗的指挥长",
    "unknown_area": lambda p: f"未知的区域编码：{_ids({'units': p.get('areas', [])})}",
    "unknown_category": "未知的事件类别 {category}",
    "occurred_in_future": "发现时间不能晚于现在",
    "bad_crs": "不支持的坐标系",
    "bad_grouping": "统计分组须为类别或镇街",
    "bad_period": "统计期须从前往后，且在 1970 年至 2100 年之间",
    "bad_link": "事件不能与自身关联",
    "already_linked": "事件 {other} 已与本事件关联",
    "case_already_linked": "案件 {case} 已关联到本事件",
    "plan_not_found": "未找到预案 {plan}",
    "plan_category_mismatch": "预案 {plan} 不适用于此类事件",
    "level_not_in_plan": lambda p: (f"预案 {p['plan']} 没有{_level(p['level'])}，可选："
                                    + "、".join(_level(x) for x in p.get("levels", []))),
    "below_response_level": lambda p: (f"事件已在{_level(p['response_level'])}，预案只能以该级别或更高级别启动"),
    "plan_already_active": lambda p: f"预案 {p['plan']} 已在{_level(p['response_level'])}运行",
    "task_not_found": "未找到任务 {task_id}，或不在您的辖区内",
    "ack_first": "该任务须先签收再开始执行",
    "not_task_owner": "只有责任单位（或其上级单位）的人员可以处理该任务；指挥长可代为签收",
    "invalid_plan": "预案文件 {file} 有 {n} 处问题，请逐条修改",
    "respond_first": "尚未启动响应：请先启动响应或启动预案",
    "not_commander": "只有本事件的指挥长，或辖区覆盖事发地点和全部影响区域的指挥人员可以执行",
    "exercise_case": "演练事件不能关联真实案件（{case}）",
    # the screening registers (screening/): hazards and disputes
    "hazard_not_found": "未找到安全隐患 {hazard_id}，或不在您的辖区内",
    "dispute_not_found": "未找到矛盾纠纷 {dispute_id}，或不在您的辖区内",
    "five_missing": "重大隐患须先落实整改措施、责任、资金、时限和应急预案（五落实）才能立案",
    "reward_not_wanted": "举报人未申请奖励",
    "reward_decided": "已作出奖励决定，不能重复审批",
    "no_reward": "尚未作出奖励决定",
    "reward_paid": "奖励已发放",
    "second_person_needed": "奖励审批人不能同时登记发放，须由另一人登记（四眼原则）",
    "case_exists": "该隐患已转为案件办理",
    "unknown_unit": "未知的单位 {unit_id}",
    "unit_outside_jurisdiction": "单位 {unit_id} 不在您的辖区内，不能指定为责任单位",
    "top_tier": "已在最高层级（专班），不能再上交",
    "tier_held_above": lambda p: f"该纠纷已上交至{_tier_zh(p.get('tier'))}，由上一层级办理，您可查看但不能再操作",
    "incident_exists": "该纠纷已升级为突发事件",
    "unknown_list": "三单须为问题清单、责任清单或化解清单",
    # screening campaigns (screening/campaigns.py)
    "campaign_not_found": "未找到排查行动 {campaign_id}，或不在您的辖区内",
    "bad_campaign_area": "排查范围须为一个镇（街道）或全区：{area_code} 不是",
    "campaign_outside_jurisdiction": "排查范围不在您的辖区内",
    "campaign_code_taken": "排查行动编号 {code} 已被使用",
    "not_campaign_team": "只有派往本次排查的队伍（或其上级单位）的网格员、巡查员和处置人员可以登记走访",
    "campaign_not_running": "排查行动不在进行中，不能登记走访",
    "grid_not_in_campaign": "网格 {grid_code} 不在本次排查范围内",
    "unknown_checklist_key": "检查项 {key} 不在本次排查的清单上",
    "unanswered_checklist_key": "检查项 {key} 尚未作答（不适用请选“不适用”）",
    "visit_outside_period": "走访日期 {day} 不在排查期间 {start} 至 {end} 内，或晚于现在",
    "visit_key_reused": "该走访编号已用于网格 {grid_code}",
    "finding_outside_campaign": "发现的问题不在本次排查范围内",
    "unknown_level": "统计层级须为网格、村居或镇街",
    # early warnings (screening/early_warning*.py)
    "early_warning_not_found": "未找到早研判预警 {early_warning_id}，或不在您的辖区内",
    "warning_status": lambda p: (f"该预警{_EW_STATUS_ZH.get(p.get('status'), p.get('status', ''))}，"
                                 "不能再执行该操作"),
    "scan_in_future": "扫描时间不能晚于现在",
    "bad_status": "未知的预警状态 {status}",
    # CAP: warnings issued from an incident, documents imported (emergency/cap/)
    **{code: zh for code, (zh, _) in _CAP.items()},
    # importing history (cases/history.py)
    "history_out_of_order": "历史记录中有步骤早于其前一步",
    # finding cases
    "unknown_state": "未知的状态 {state}",
    "area_not_found": "未找到区域 {area}，或不在您的辖区内",
    "bad_light": "灯色须为绿、黄或红",
    "bad_date": "日期须在 1970 年至 2100 年之间",
    "bad_sort": "不支持该排序方式",
    # signing in and administration
    "login_failed": "用户名或密码错误，或账号因多次失败已被锁定",
    "password_too_short": "密码至少需要 {min} 个字符",
    "password_has_username": "密码不能包含用户名",
    "password_too_simple": "密码过于简单",
    "password_nul": "密码不能包含空字符",
    "user_exists": "用户 {username} 已存在",
    "unit_exists": "单位 {code} 已存在",
    "matter_exists": "事项编码 {code} 已存在",
    "last_admin": "此操作将使系统没有可用的管理员",
    "bad_username": "用户名须为 1–64 个英文字母、数字、“_”或“.”",
}
CODES = frozenset(_ZH)

_EN: dict[str, str | Callable[[dict], str]] = {
    # the emergency refusals in the pages' English (the API's own text is written for developers)
    "incident_not_found": "Incident {incident_id} not found, or outside your area",
    "unknown_commander": "{username} is not an active incident commander",
    "unknown_area": lambda p: f"Unknown area codes: {', '.join(map(str, p.get('areas', [])))}",
    "occurred_in_future": "The time of discovery cannot lie in the future",
    "bad_link": "An incident cannot be linked to itself",
    "already_linked": "Incident {other} is linked to this one already",
    "case_already_linked": "Case {case} is linked to this incident already",
    "plan_not_found": "Plan {plan} not found",
    "plan_category_mismatch": "Plan {plan} is not for this category of incident",
    "level_not_in_plan": lambda p: (f"Plan {p['plan']} has no level {p['level']} response; it has "
                                    + ", ".join(map(str, p.get("levels", [])))),
    "below_response_level": "The incident responds at level {response_level} already: a plan joins it at that level "
                            "or a higher one",
    "plan_already_active": "Plan {plan} runs at level {response_level} already",
    "task_not_found": "Task {task_id} not found, or outside your area",
    "ack_first": "This task must be acknowledged before it is started",
    "not_task_owner": "Only the owner unit's staff (or a unit heading it) act on this task; the commander may "
                      "acknowledge it on the unit's behalf",
    "invalid_plan": "The plan file {file} has {n} problem(s): fix each one",
    "stale": "Changed by someone else meanwhile: reload and try again",
    "respond_first": "No response runs yet: start one, or activate a plan",
    "not_commander": "Only the incident's commander, or one whose area holds its place and every area it affects, "
                     "may do this",
    "exercise_case": "A drill is never tied to a real case ({case})",
    "five_missing": "A major hazard is filed only with its measures, responsibility, funds, deadline and "
                    "contingency plan (五落实)",
    "top_tier": "The task force is the highest tier: there is none to escalate to",
    "tier_held_above": "The dispute went up to the {tier} tier: that tier handles it now; you may read it but no "
                       "longer act on it",
    "second_person_needed": "A reward's approver does not also record it paid: a second person does",
    "early_warning_not_found": "Early warning {early_warning_id} not found, or outside your area",
    "warning_status": "This early warning is {status}: that decision is no longer open",
    "scan_in_future": "A scan cannot look at a time in the future",
    "bad_status": "Unknown early-warning status {status}",
    "campaign_not_found": "Campaign {campaign_id} not found, or outside your area",
    "bad_campaign_area": "A campaign covers a town or the district: {area_code} is neither",
    "campaign_outside_jurisdiction": "The campaign's area lies outside your jurisdiction",
    "not_campaign_team": "Only the staff of a team assigned to this campaign (or of the unit heading it) record "
                         "its visits",
    "campaign_not_running": "The campaign is not running: no visit can be recorded",
    "unknown_checklist_key": "{key} is not on this campaign's checklist",
    "unanswered_checklist_key": "The checklist's {key} is unanswered (choose n/a where it does not apply)",
    "visit_outside_period": "The visit on {day} lies outside the campaign's period {start} – {end}, or ahead of now",
    **{code: en for code, (_, en) in _CAP.items()},
}
"""English wording of refusals whose API text reads poorly in a page; other refusals keep the API's English."""


def in_chinese(code: str | None, params: dict | None = None) -> str | None:
    """The Chinese for a refusal's code and values, or None when it is not one the pages meet."""
    return _render(_ZH.get(code or ""), params)


def in_english(code: str | None, params: dict | None = None) -> str | None:
    """The pages' English for a refusal's code and values, or None when the API's own text serves."""
    return _render(_EN.get(code or ""), params)


def _render(text: str | Callable[[dict], str] | None, params: dict | None) -> str | None:
    if text is None:
        return None
    try:
        return text(params or {}) if callable(text) else text.format_map(params or {})
    except (KeyError, IndexError, ValueError):  # a value the text needs is missing: the API's English says it
        return None


def for_page(request: Request, body: dict) -> dict:
    """The error body as the page that asked should show it: its reason in the page's language."""
    if request.headers.get("sec-fetch-site") != "same-origin":
        return body
    said = in_chinese if lang_of(request) == "zh" else in_english
    text = said(body.get("code"), body.get("params"))
    return {**body, "detail": text, "detail_en": body["detail"]} if text else body
