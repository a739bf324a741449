"""Page language: Chinese by default, English on request (a cookie set by ``/lang/{code}``).

Every label lives here once, as (zh, en). Templates call ``t(key)``; scripts get the labels they need
as JSON in a ``data-`` attribute, so no text is hard-coded in JavaScript.
"""

from __future__ import annotations

from fastapi import Request

from liandong.cases.states import ACTIONS, CHANNELS, STATES

LANG_COOKIE = "liandong_lang"
LANGS = ("zh", "en")

STATE_LABELS = {
    "reported": ("已上报", "Reported"),
    "accepted": ("已受理", "Accepted"),
    "rejected": ("不予受理", "Rejected"),
    "verifying": ("核实中", "Verifying"),
    "filed": ("已立案", "Filed"),
    "dispatched": ("已派遣", "Dispatched"),
    "in_progress": ("处置中", "In progress"),
    "returned": ("已回退", "Returned"),
    "disposed": ("已处置", "Disposed"),
    "checking": ("核查中", "Checking"),
    "checked": ("已核查", "Checked"),
    "closed": ("已结案", "Closed"),
    "suspended": ("已挂起", "Suspended"),
    "voided": ("已作废", "Voided"),
    "merged": ("已合并", "Merged"),
}
ACTION_LABELS = {
    "accept": ("受理", "Accept"),
    "reject": ("不予受理", "Reject"),
    "request_verify": ("派发核实", "Ask to verify"),
    "verified": ("核实属实", "Verified"),
    "file": ("立案", "File"),
    "close_self_handled": ("自处置结案", "Close (self-handled)"),
    "dispatch": ("派遣", "Dispatch"),
    "sign": ("签收", "Sign for"),
    "return": ("回退", "Return"),
    "redispatch": ("重新派遣", "Redispatch"),
    "report_done": ("处置反馈", "Report done"),
    "request_check": ("派发核查", "Ask to check"),
    "check_passed": ("核查通过", "Check passed"),
    "check_failed": ("核查不通过", "Check failed"),
    "close": ("结案", "Close"),
    "suspend": ("挂起", "Suspend"),
    "resume": ("恢复", "Resume"),
    "rate": ("评价", "Rate"),
    "void": ("作废", "Void"),
    "merge": ("合并", "Merge"),
    "request_extension": ("申请延期", "Ask for more time"),
    "approve_extension": ("批准延期", "Approve extension"),
    "reject_extension": ("驳回延期", "Refuse extension"),
    "urge": ("督办", "Urge"),
    "report": ("上报", "Report"),
    "escalate": ("超时升级", "Escalated"),
    "attach": ("上传照片", "Photo added"),
}
CHANNEL_LABELS = {
    "hotline": ("热线", "Hotline"),
    "grid_worker": ("网格员", "Grid worker"),
    "citizen_web": ("市民网上", "Citizen web"),
    "open311": ("Open311", "Open311"),
    "video": ("视频智能", "Video analytics"),
    "sensor": ("传感器", "Sensor"),
    "department_transfer": ("部门转办", "Department transfer"),
    "leader_instruction": ("领导批示", "Leader instruction"),
}
ROLE_LABELS = {
    "admin": ("管理员", "Administrator"),
    "receptionist": ("受理员", "Receptionist"),
    "shift_leader": ("值班长", "Shift leader"),
    "dispatcher": ("派遣员", "Dispatcher"),
    "handler": ("处置人员", "Handler"),
    "inspector": ("监督员", "Inspector"),
    "commander": ("指挥长", "Incident commander"),
    "leader": ("领导", "Leader"),
    "citizen": ("市民", "Citizen"),
}
LIGHT_LABELS = {"green": ("正常", "On time"), "yellow": ("预警", "Due soon"), "red": ("超时", "Overdue")}
STAGE_LABELS = {
    "dispatch": ("派遣", "Dispatch"),
    "sign": ("签收", "Sign"),
    "dispose": ("处置", "Dispose"),
    "check": ("核查", "Check"),
}

UNIT_STATUS_LABELS = {
    "dispatched": ("待签收", "Waiting to sign"),
    "signed": ("已签收", "Signed"),
    "done": ("已完成", "Done"),
    "returned": ("已回退", "Returned"),
    "withdrawn": ("已撤回", "Withdrawn"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "brand": ("联动", "Liandong"),
    "tagline": ("网格化管理与应急联动平台", "Grid governance & emergency linkage"),
    "skip": ("跳到主要内容", "Skip to content"),
    "nav.dashboard": ("指挥大屏", "Command centre"),
    "nav.work": ("工作台", "Workbench"),
    "nav.map": ("区域地图", "District map"),
    "nav.admin": ("系统管理", "Administration"),
    "nav.main": ("主导航", "Main navigation"),
    "lang.switch": ("English", "中文"),
    "lang.switch_label": ("切换到英文", "Switch to Chinese"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": (
        "用户名或密码错误，或因多次失败账户已暂时锁定",
        "Wrong username or password, or the account is locked for a while after repeated failures",
    ),
    "logout": ("退出", "Log out"),
    "roles": ("角色", "Roles"),
    "unit": ("单位", "Unit"),
    "kpi.reported": ("今日上报", "Reported today"),
    "kpi.accepted": ("今日受理", "Accepted today"),
    "kpi.filed": ("今日立案", "Filed today"),
    "kpi.dispatched": ("今日派遣", "Dispatched today"),
    "kpi.closed": ("今日结案", "Closed today"),
    "kpi.open": ("在办案件", "Open cases"),
    "kpi.overdue": ("超时（红灯）", "Overdue (red)"),
    "kpi.yellow": ("预警（黄灯）", "Due soon (yellow)"),
    "kpi.closure": ("30天结案率", "30-day closure rate"),
    "kpi.ontime": ("30天按期结案率", "30-day on-time rate"),
    "kpis": ("今日工作与在办情况", "Today's work and open cases"),
    "chart.category": ("按大类（30天）", "By category (30 days)"),
    "chart.town": ("按镇街（30天）", "By town (30 days)"),
    "chart.channel": ("按来源（30天）", "By channel (30 days)"),
    "chart.series": ("每日上报与结案", "Reported and closed per day"),
    "series.reported": ("上报", "Reported"),
    "series.closed": ("结案", "Closed"),
    "feed": ("实时动态", "Live feed"),
    "feed.empty": ("等待新的案件动态…", "Waiting for case activity…"),
    "feed.live": ("实时连接", "Live"),
    "feed.offline": ("连接中断，正在重连…", "Disconnected, reconnecting…"),
    "map.cases": ("案件分布", "Cases on the map"),
    "map.open": ("在办", "open"),
    "map.overdue": ("超时", "overdue"),
    "map.legend": ("颜色越深在办案件越多", "Darker = more open cases"),
    "work.title": ("我的待办", "My queue"),
    "work.search": ("查找案件", "Find cases"),
    "work.all": ("全部可见案件", "All visible cases"),
    "work.queue_hint": ("等待我处理的案件", "Cases waiting for my action"),
    "filter.state": ("状态", "State"),
    "filter.channel": ("来源", "Channel"),
    "filter.light": ("亮灯", "Light"),
    "filter.q": ("关键词或编号", "Text or number"),
    "filter.apply": ("查询", "Search"),
    "filter.any": ("不限", "Any"),
    "filter.overdue": ("仅超时", "Overdue only"),
    "col.number": ("编号", "Number"),
    "col.matter": ("事项", "Matter"),
    "col.state": ("状态", "State"),
    "col.grid": ("网格", "Grid"),
    "col.deadline": ("环节时限", "Stage deadline"),
    "col.light": ("灯", "Light"),
    "col.created": ("上报时间", "Reported at"),
    "col.channel": ("来源", "Channel"),
    "none": ("暂无", "None"),
    "total": ("共 {n} 件", "{n} cases"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "bulk.dispatch": ("批量派遣（按建议单位）", "Dispatch selected (to proposed units)"),
    "bulk.select": ("选择", "Select"),
    "bulk.done": ("已派遣 {ok} 件，失败 {bad} 件", "{ok} dispatched, {bad} failed"),
    "case.title": ("案件详情", "Case"),
    "case.timeline": ("处置过程", "Timeline"),
    "case.actions": ("可执行操作", "Actions"),
    "case.no_actions": ("当前状态下您没有可执行的操作", "Nothing for you to do in this state"),
    "case.deadlines": ("时限", "Deadlines"),
    "case.photos": ("照片", "Photos"),
    "case.units": ("承办单位", "Units"),
    "case.reporter": ("上报人", "Reporter"),
    "case.description": ("描述", "Description"),
    "case.stage": ("当前环节", "Stage"),
    "case.stage_deadline": ("环节截止", "Stage deadline"),
    "case.case_deadline": ("案件截止", "Case deadline"),
    "case.paused": ("已暂停计时", "Clock paused"),
    "case.lead": ("主办", "lead"),
    "case.assist": ("协办", "assisting"),
    "case.location": ("位置", "Location"),
    "case.upload": ("上传照片", "Add a photo"),
    "case.kind": ("类型", "Kind"),
    "case.before": ("处置前", "Before"),
    "case.after": ("处置后", "After"),
    "case.other": ("其他", "Other"),
    "case.version_conflict": ("案件已被他人更新，已重新载入", "Someone else changed the case; reloaded"),
    "case.done": ("操作成功", "Done"),
    "case.routing": ("建议承办单位", "Proposed units"),
    "form.note": ("说明", "Note"),
    "form.reason": ("原因", "Reason"),
    "form.lead": ("主办单位", "Lead unit"),
    "form.assist": ("协办单位（可多选）", "Assisting units (any)"),
    "form.satisfaction": ("满意度", "Satisfaction"),
    "form.master": ("并入案件编号（ID）", "Merge into case (id)"),
    "form.amount": ("延期数量", "Extra time"),
    "form.unit": ("单位", "Unit"),
    "form.hour": ("工作小时", "working hours"),
    "form.day": ("工作日", "working days"),
    "form.submit": ("提交", "Submit"),
    "form.required": ("必填", "required"),
    "sat.very_satisfied": ("非常满意", "Very satisfied"),
    "sat.satisfied": ("满意", "Satisfied"),
    "sat.dissatisfied": ("不满意", "Dissatisfied"),
    "notifications": ("通知", "Notifications"),
    "report.title": ("我要报事", "Report a problem"),
    "report.intro": (
        "在地图上标出位置，选择问题类型并简要描述；无需注册。",
        "Mark the place on the map, pick what kind of problem it is and describe it; no account needed.",
    ),
    "report.where": ("位置", "Where"),
    "report.pick": ("点击地图标出位置", "Click the map to mark the place"),
    "report.gps": ("使用我的位置", "Use my location"),
    "report.gps_failed": ("无法获取位置，请在地图上点选", "Could not get your location; click the map instead"),
    "report.no_point": ("请先在地图上标出位置", "Mark the place on the map first"),
    "report.what": ("问题类型", "What kind of problem"),
    "report.search": ("搜索（汉字、拼音首字母或编码）", "Search (Chinese, pinyin initials or code)"),
    "report.describe": ("问题描述", "Description"),
    "report.photo": ("照片（可选，JPEG/PNG/WebP，10MB以内）", "Photo (optional, JPEG/PNG/WebP, up to 10 MB)"),
    "report.name": ("称呼（可选）", "Your name (optional)"),
    "report.phone": ("联系电话（可选，仅用于回访）", "Phone (optional, only to call you back)"),
    "report.submit": ("提交", "Send"),
    "report.sending": ("正在提交…", "Sending…"),
    "report.thanks": (
        "已收到，谢谢！请保存跟踪编号与查询码：",
        "Received, thank you! Keep your tracking number and key:",
    ),
    "report.number": ("跟踪编号", "Tracking number"),
    "report.key": ("查询码", "Key"),
    "report.follow": ("查看办理进度", "Follow your report"),
    "track.title": ("办理进度", "Progress of your report"),
    "track.lookup": ("查询", "Look up"),
    "track.stage.reported": ("已收到", "Received"),
    "track.stage.accepted": ("已受理", "Accepted"),
    "track.stage.in_hand": ("处理中", "Being handled"),
    "track.stage.closed": ("已办结", "Done"),
    "track.stage.rejected": ("未予受理", "Not taken up"),
    "track.stage.merged": ("已与同类报告合并处理", "Handled together with a report of the same problem"),
    "track.rate": ("对处理结果评价", "Rate the result"),
    "track.rated": ("感谢您的评价", "Thank you for your rating"),
    "track.not_found": ("没有找到该报告，请核对编号与查询码", "No report with this number and key"),
    "error": ("出错了", "Something went wrong"),
}


def lang_of(request: Request) -> str:
    value = request.cookies.get(LANG_COOKIE)
    return value if value in LANGS else "zh"


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def translator(lang: str):
    """``t(key, **values)`` for templates: the label in ``lang``; an unknown key shows as itself."""

    def t(key: str, **values) -> str:
        pair = MESSAGES.get(key)
        text = _pick(pair, lang) if pair else key
        return text.format(**values) if values else text

    return t


def labels(lang: str) -> dict:
    """Everything the scripts need, in one language."""

    def pick(table: dict, keys) -> dict:
        return {k: _pick(table[k], lang) for k in keys if k in table}

    return {
        "messages": {k: _pick(v, lang) for k, v in MESSAGES.items()},
        "states": pick(STATE_LABELS, STATES),
        "actions": pick(ACTION_LABELS, (*ACTIONS, "report", "escalate", "attach")),
        "channels": pick(CHANNEL_LABELS, CHANNELS),
        "lights": pick(LIGHT_LABELS, LIGHT_LABELS),
        "stages": pick(STAGE_LABELS, STAGE_LABELS),
        "unit_status": pick(UNIT_STATUS_LABELS, UNIT_STATUS_LABELS),
        "lang": lang,
    }
