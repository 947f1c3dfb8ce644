"""JSONL with the characters str.splitlines() splits at inside a headline (U+0085, U+2028,
U+2029): written escaped, read split at "\\n" only, so no record is ever broken in two.
Hypothesis found the first one: a title "0\\x85" classified, written, read back in two."""
from __future__ import annotations

import io
import json

import pytest

from citycredit.commands.classify import classify_lines
from citycredit.jsonl import dumps_line, split_lines
from citycredit.replay import read_timeline

SEPARATORS = ["\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_written_line_stays_one_line_for_any_reader(sep):
    line = dumps_line({"title": f"苏州{sep}餐馆使用地沟油"})
    assert len(line.splitlines()) == 1 and sep not in line
    assert json.loads(line)["title"] == f"苏州{sep}餐馆使用地沟油"


@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_raw_separator_in_a_file_does_not_split_its_record(sep):
    obs = {"ts": "2026-05-04T08:00:00+08:00", "site": "people", "surface": "homepage",
           "title": f"苏州{sep}餐馆使用地沟油", "url": "http://people.example.cn/1.html"}
    text = json.dumps(obs, ensure_ascii=False) + "\r\n" + json.dumps(obs, ensure_ascii=False) + "\n"
    entries, errors = read_timeline(split_lines(text))
    assert errors == [] and len(entries) == 2


@pytest.mark.parametrize("sep", SEPARATORS)
def test_classify_writes_one_line_per_item(sep):
    obs = {"ts": "2026-05-04T08:00:00+08:00", "site": "people", "surface": "homepage",
           "title": f"0{sep}苏州餐馆使用地沟油", "url": ""}
    out, err = io.StringIO(), io.StringIO()
    assert classify_lines([json.dumps(obs, ensure_ascii=False)], out, err) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["title"] == obs["title"]
