"""Generated-code shapes (issue #19, checks/shapes.py): parsed cleanly, and analysed in time linear in size.

128 KB and 512 KB of each shape through parse, every structural rule, the TSA inventory and the lock graph
(checks.hostile.measure); as in tests/hostile/test_linear.py, 4x the input may take at most 6x the CPU
time, best of up to 3 tries. A class of many inline methods once took time quadratic in their number.
"""

import pytest

from analyzers.parse import parse_text
from checks.hostile import growth, measure
from checks.shapes import SHAPES, write

SMALL, LARGE = 128 * 1024, 512 * 1024     # smaller, and the quadratic class of methods hid in the noise
LIMIT = 6.0
FLOOR = 0.02


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_shape_is_its_size_and_parses_cleanly(name):
    text = SHAPES[name](SMALL)
    assert SMALL <= len(text) < SMALL * 1.1
    model = parse_text(text, f"{name}.mm")
    assert model.tokens and not model.diagnostics


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_shape_scales_linearly(tmp_path, name):
    warm = tmp_path / "warm.mm"
    warm.write_text(SHAPES[name](SMALL))
    measure(warm, tmp_path)      # imports and compiled scanners out of the way
    best_small, best_large, ratio = growth(SHAPES[name], SMALL, LARGE, tmp_path, LIMIT, FLOOR)
    assert ratio <= LIMIT, f"{name}: {best_small:.3f} s at 128 KB, {best_large:.3f} s at 512 KB (x{ratio:.1f})"


def test_write_puts_each_shape_in_a_folder_of_its_own(tmp_path):
    paths = write(tmp_path, 0.01)
    assert sorted(p.parent.name for p in paths) == sorted(SHAPES)
    assert all(p.parent.parent == tmp_path / "0.01" and p.stat().st_size >= 10_000 for p in paths)
