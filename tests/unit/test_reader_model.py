"""The trained reader: the shipped weights load and explain; a missing or corrupt file is a
clear start-up error naming the fix; training is deterministic."""
from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from citycredit.exceptions import ConfigError
from citycredit.understanding import Understanding
from citycredit.understanding.model import MODEL_PATH, load_model, read_model_text
from schemas import Observation

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_model_names_its_training_labels_and_loads():
    raw = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    assert raw["examples"] >= 3000
    # every label file it was trained on is in the repository, with the hash it had: a label
    # corrected without retraining (python ops/train_reader.py) leaves a stale model, and fails here
    assert "tests/data/labels/headlines.tsv" in raw["trained_on"]
    stale = [path for path, digest in raw["trained_on"].items()
             if not (ROOT / path).exists() or hashlib.sha256((ROOT / path).read_bytes()).hexdigest() != digest]
    assert not stale, f"the shipped reader was trained on other versions of {stale}: run python ops/train_reader.py"
    assert set(load_model().heads) == {"polarity", "aspect", "subfield", "domain"}


def test_a_decision_is_explained_by_its_largest_weights():
    u = Understanding(story_state={})
    obs = Observation.parse({"ts": "2026-02-01T12:00:00+08:00", "site": "sina", "surface": "homepage",
                             "title": "南通一纺织厂30余名工人午餐后疑似食物中毒 涉事食堂被查", "url": ""})
    item = u.analyse(obs)
    assert item.polarity == "dishonest" and item.subfield == "food_safety" and item.city == "南通市"
    model_lines = item.evidence["model"]
    assert model_lines[0].startswith("polarity dishonest p=") and "+" in model_lines[0]


def test_a_corrupt_or_missing_model_is_one_clear_error(tmp_path):
    raw = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    raw["heads"]["polarity"]["intercept"][0] += 1.0   # a flipped weight: the checksum no longer holds
    with pytest.raises(ConfigError, match="checksum.*ops/train_reader.py"):
        read_model_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="not valid JSON.*ops/train_reader.py"):
        read_model_text('{"heads": ')
    with pytest.raises(ConfigError, match="missing.*ops/train_reader.py"):
        load_model.__wrapped__(tmp_path / "reader_model.json.gz")
    (tmp_path / "truncated.gz").write_bytes(MODEL_PATH.read_bytes()[:1000])
    with pytest.raises(ConfigError, match="ops/train_reader.py"):
        load_model.__wrapped__(tmp_path / "truncated.gz")


def test_the_worker_refuses_to_start_without_its_model(tmp_path):
    """A clone whose model file is gone: the CLI prints one line naming the fix, exit 2."""
    code = ("import citycredit.understanding.model as m, pathlib, sys;"
            f"m.MODEL_PATH = pathlib.Path({str(tmp_path / 'gone.json')!r});"
            "m.load_model.__wrapped__.__defaults__ = (m.MODEL_PATH,);"
            "from citycredit.cli import main; sys.exit(main(['worker']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "ops/train_reader.py" in lines[0], proc.stderr


@pytest.mark.parametrize("title, never", [
    ("温州出租车司机拾金不昧 归还乘客遗失的10万元现金", "dishonest"),   # was read dishonest (出租车, 乘客)
    ("南通一纺织厂30余名工人午餐后疑似食物中毒", "trustworthy"),
])
def test_the_event_type_s_polarity_bounds_the_reader_s(title, never):
    """The taxonomy's event type fixes the side: the reader picks it or neutral, never the opposite."""
    item = Understanding(story_state={}).analyse(Observation.parse(
        {"ts": "2026-02-01T12:00:00+08:00", "site": "sina", "surface": "homepage", "title": title, "url": ""}))
    assert item.evidence["event"][0].startswith("event type") and item.polarity != never
