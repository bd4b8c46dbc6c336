"""Who comes to the demo centre's window: made-up citizens and companies, and their forms.

The demo's past (app/demo_history.py) receives its cases with these; the names, ID numbers
and credit codes are drawn from a seeded random source, so the same seed gives the same people.
"""

from __future__ import annotations

import datetime as dt
import random

from .cases import services as cases
from .catalogue.models import Item
from .clock import today

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚英华建国红梅志文斌波辉宇浩然欣怡思远嘉豪俊雨晨阳博"
)
FIRMS = ("恒信", "华通", "宏达", "瑞丰", "金源", "泰和", "新港", "东方", "兴业", "远航")
LONG_VALUES = {"certificates": (3, 12, 30, 45, 120), "floor_area": (800, 5000, 25000)}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_number(rnd: random.Random) -> str:
    """A citizen's 18-character ID number with its check character (GB 11643)."""
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rnd.randint(0, 15000))
    body = f"330102{born:%Y%m%d}{rnd.randint(0, 999):03d}"
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def applicant(rnd: random.Random) -> cases.Applicant:
    """A citizen, or now and then a company with its unified social credit code."""
    phone = f"13{rnd.randint(0, 9)}{rnd.randint(0, 99999999):08d}"
    if rnd.random() < 0.3:
        name = f"示范市{rnd.choice(FIRMS)}{rnd.choice(('置业', '建设', '实业'))}有限公司"
        return cases.Applicant(name, f"91330100MA2H{rnd.randint(0, 99999):05d}X", phone)
    name = rnd.choice(SURNAMES) + "".join(rnd.sample(GIVEN, rnd.choice((1, 2))))
    return cases.Applicant(name, _id_number(rnd), phone)


def application_form(item: Item, rnd: random.Random) -> dict:
    """A valid application form of an item, with the values that choose its paths drawn."""
    form = {}
    for spec in item.entry.get("form", []):
        kind = spec.get("type", "string")
        if kind == "enum":
            form[spec["id"]] = rnd.choice(spec["options"])
        elif kind == "long":
            form[spec["id"]] = rnd.choice(LONG_VALUES.get(spec["id"], (10, 60, 240)))
        elif kind == "boolean":
            form[spec["id"]] = True
        elif kind == "date":
            form[spec["id"]] = today().isoformat()
        else:
            form[spec["id"]] = "示范市建设路8号" if "address" in spec["id"] else "示范项目"
    return form


def required_materials(item: Item) -> list[str]:
    """The codes of the materials an item requires (the window asks for these)."""
    return [m["code"] for m in item.entry.get("materials", []) if m.get("required", True)]
