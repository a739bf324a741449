"""The server's refusal reasons in Chinese, for the pages (the API itself speaks English).

A page's own fetch() calls carry ``Sec-Fetch-Site: same-origin``; for those the error handler gives the
reason in the page's language (the ``lang`` cookie, Chinese by default) and keeps the original as
``detail_en``. Only the reasons people meet in the pages are listed; any other stays in English.
Each pattern matches the whole English reason; its groups fill the Chinese text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request

from liandong.web.i18n import lang_of

_FIELDS = {"note": "说明", "reason": "原因", "master_id": "主案件", "satisfaction": "满意度", "amount": "延期数量",
           "unit": "单位", "lead_unit_id": "主办单位"}
"""Payload fields an action needs (states.NEEDS), as the pages name them."""


def _needs(m: re.Match[str]) -> str:
    """The missing field in Chinese (``note`` → 说明), not its payload name."""
    return f"请填写必填项（{_FIELDS.get(m[2], m[2])}）"


_ZH: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    # reporting (desk, phone app, citizens)
    (r"no unit grid at this point: it lies outside the district", "该位置不在本区范围内，请在地图上重新选点"),
    (r"no unit grid at this point in your jurisdiction", "该位置不在您的辖区内"),
    (r"this point lies outside your jurisdiction", "该位置不在您的辖区内"),
    (r"unknown matter '(.+)'", r"未知的问题类型 \1"),
    (r"description must have 1–2000 characters", "问题描述须为 1–2000 个字"),
    (r"reporter name must be text of at most 100 characters, phone at most 32", "姓名最多 100 个字，电话最多 32 位"),
    (r"phone must have 5–20 characters: digits, spaces and \+ - \( \) only",
     "电话须为 5–20 位，只能包含数字、空格和 + - ( )"),
    (r"reporter id_number: an ID number has 17 digits and a check digit or X",
     "身份证号应为 17 位数字加 1 位校验码（数字或 X）"),
    (r"reporter id_number: the ID number's date of birth is not a date", "身份证号中的出生日期无效"),
    (r"reporter id_number: the ID number's check digit does not match", "身份证号校验码不正确"),
    (r"this Idempotency-Key was used for a different request", "该报告编号已用于另一份报告"),
    (r"only JPEG, PNG and WebP photos are accepted", "只接受 JPEG、PNG 或 WebP 格式的照片"),
    (r"the file is empty", "文件为空"),
    (r"the file has (\d+) bytes; at most (\d+) are accepted", r"文件大小 \1 字节，超过上限 \2 字节"),
    (r"the report has (\d+) bytes; at most (\d+) are accepted.*", r"报告大小 \1 字节，超过上限 \2 字节"),
    (r"too many requests: .*", "操作过于频繁，请稍后再试"),
    (r"no report with this tracking number and key", "查无此报告：请核对跟踪号和查询码"),
    (r"this report was rated already", "该报告已评价过"),
    (r"NUL characters are not allowed.*", "内容中含有不允许的空字符"),
    # acting on cases
    (r"action '(\w+)' is not allowed in state '(\w+)'", "当前状态下不能执行该操作"),
    (r"the case was changed by someone else meanwhile; reload it and try again", "案件已被他人更改，请刷新后重试"),
    (r"'(\w+)' needs one of the roles: .*", "您的角色不能执行该操作"),
    (r"'(\w+)' needs '(\w+)'", _needs),
    (r"the case is not assigned to your unit", "该案件未派给您的单位"),
    (r"only the lead unit asks for more time on the case's stage", "只有主办单位可以申请延期"),
    (r"amount must be a number above 0 and at most 365", "延期数量须大于 0 且不超过 365"),
    (r"an extension request is already waiting for a decision", "已有延期申请等待审批"),
    (r"no extension request is waiting for a decision", "没有待审批的延期申请"),
    (r"assisting units \[.*\] have not finished their part; .*",
     "协办单位尚未完成各自部分，主办单位需待其完成后再反馈办结"),
    (r"your unit's part of this case is '(\w+)': '(\w+)' is not possible now", "贵单位在本案中的任务状态不允许该操作"),
    (r"note and reason must be text of at most 2000 characters", "说明和原因最多 2000 个字"),
    (r"case (\d+) not found", r"未找到案件 \1，或不在您的辖区内"),
    (r"master_id must be the id of another case", "请填写另一件案件作为主案件"),
    # signing in and administration
    (r"wrong username or password, or the account is locked after repeated failures",
     "用户名或密码错误，或账号因多次失败已被锁定"),
    (r"password must have at least (\d+) characters", r"密码至少需要 \1 个字符"),
    (r"password must not contain the username", "密码不能包含用户名"),
    (r"password is too simple", "密码过于简单"),
    (r"user '(.+)' already exists", r"用户 \1 已存在"),
    (r"unit '(.+)' already exists", r"单位 \1 已存在"),
    (r"matter '(.+)' already exists", r"事项编码 \1 已存在"),
    (r"this would leave no active administrator", "此操作将使系统没有可用的管理员"),
    (r"username must be 1–64 ASCII letters, digits, '_' or '\.'", "用户名须为 1–64 个英文字母、数字、“_”或“.”"),
]
_TABLE = [(re.compile(pattern), zh) for pattern, zh in _ZH]


def in_chinese(reason: str) -> str | None:
    """The Chinese for an English reason, or None when it is not one the pages meet."""
    for pattern, zh in _TABLE:
        m = pattern.fullmatch(reason)
        if m:
            return zh(m) if callable(zh) else m.expand(zh)
    return None


def for_page(request: Request, body: dict) -> dict:
    """The error body as the page that asked should show it: its reason in the page's language."""
    if request.headers.get("sec-fetch-site") != "same-origin" or lang_of(request) != "zh":
        return body
    zh = in_chinese(str(body.get("detail", "")))
    return {**body, "detail": zh, "detail_en": body["detail"]} if zh else body
