"""The plots are readable: checked on the drawn figures, not only on the files' existence."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from streamgmm.examples import selection_figure
from streamgmm.online.history import BatchHistory
from streamgmm.reporting import plots
from streamgmm.reporting.embed import EMBED_MAX_WIDTH, plots_markdown, png_data_uri
from streamgmm.reporting.stream_plots import draw_stream_history, plot_stream_state


def _history(n: int = 120) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "batch": np.arange(1, n + 1),
        "mean_log_likelihood": -10.0 + 0.3 * rng.standard_normal(n),
        "drift_alarm": np.arange(n) % 50 == 7,
        "anomalies": rng.poisson(0.4, n),
        "step_size": (np.arange(n) + 2.0) ** -0.7,
    }


def _criteria(n_rows: float = 1e7) -> tuple[list[int], list[str], np.ndarray, np.ndarray]:
    """Criteria as a large N gives them: a fall of millions to K = 5, then a rise of ~100 per K."""
    ks = list(range(1, 11)) * 2
    types = ["full"] * 10 + ["diag"] * 10
    fall = np.array([3e6 / 2 ** (k - 1) if k < 5 else 0.0 for k in ks])
    bic = -2 * n_rows * 1.5 + fall + 6.0 * np.array(ks) * np.log(n_rows) + np.where(
        np.array(types) == "diag", 4000.0, 0.0)
    return ks, types, bic, bic - 300.0


def _drawn(figure: Figure) -> object:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_criteria_are_drawn_less_their_minimum_on_a_symlog_axis():
    ks, types, bic, aic = _criteria()
    figure = Figure(figsize=(7, 5))
    ax = figure.add_subplot(1, 1, 1)
    plots.draw_information_criteria(ax, ks, types, bic, aic, chosen=4)
    _drawn(figure)
    assert ax.get_yscale() == "symlog"
    bic_full = next(line for line in ax.get_lines() if line.get_label() == "BIC full")
    y = np.asarray(bic_full.get_ydata())
    assert y.min() == 0.0  # less the minimum: the winner at 0
    # The rise after the winner is visible: on the symlog axis it spans a real height,
    # while on a linear axis of the raw values it would be < 0.01% of the plot.
    rise_pixels = np.ptp(ax.transData.transform(np.c_[ks[4:10], y[4:10]])[:, 1])
    assert rise_pixels > 40
    assert (np.max(bic) - np.min(bic)) / np.ptp(y[4:10]) > 1000
    assert list(ax.get_xticks()) == list(range(1, 11))


def test_the_example_and_the_flow_share_the_criteria_drawing(tmp_path):
    assert selection_figure.draw_information_criteria is plots.draw_information_criteria
    ks, types, bic, aic = _criteria()
    path = plots.plot_information_criteria(ks, types, bic, aic, tmp_path / "c.png", chosen=4)
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_stream_history_counts_have_integer_ticks_and_a_legend_beside_the_data():
    figure = Figure(figsize=(9.0, 5.0), layout="constrained")
    legend = draw_stream_history(figure, _history(), changes=[30, 60])
    renderer = _drawn(figure)
    top, bottom, step_axis = figure.axes
    for ticks in (bottom.get_xticks(), bottom.get_yticks()):  # batches, anomalies per batch
        assert len(ticks) >= 2 and np.all(ticks == np.round(ticks))
    labels = [text.get_text() for text in legend.get_texts()]
    assert any("step size" in label for label in labels)
    assert {"mean log-likelihood", "drift alarm", "known change", "anomalies per batch"} <= set(labels)
    box = legend.get_window_extent(renderer)
    for ax in (top, bottom, step_axis):
        assert not box.overlaps(ax.get_window_extent(renderer)), ax


def test_a_stream_plot_goes_into_the_folder_given(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    assert plot_stream_state(state, tmp_path / "reports", "speech") is None  # no batch yet
    history = BatchHistory(state)
    for batch in range(1, 6):
        history.append((str(batch), str(100 * batch), "-3.5", "0.5", "1", "0", "0.0"))
    plot = plot_stream_state(state, tmp_path / "reports", "speech")
    assert plot == tmp_path / "reports" / "speech-history.png"
    assert not list(state.glob("*.png"))
    with Image.open(plot) as image:
        assert image.format == "PNG"


def test_embedded_plots_are_small_pngs_with_a_link_to_the_file(tmp_path):
    ks, types, bic, aic = _criteria()
    path = plots.plot_information_criteria(ks, types, bic, aic, tmp_path / "wide.png", chosen=4)
    uri = png_data_uri(path, max_width=300)
    assert uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert image.width == 300 and image.mode == "P"  # downscaled, palettised
    lines = plots_markdown({"Criteria": path})
    text = "\n".join(lines)
    assert "![Criteria](data:image/png;base64," in text
    assert f"[`{path}`]({Path(path).resolve().as_uri()})" in text
    embedded = text.split("base64,", 1)[1].split(")", 1)[0]
    with Image.open(io.BytesIO(base64.b64decode(embedded))) as image:
        assert image.width <= EMBED_MAX_WIDTH
    assert plots_markdown(None) == [] and plots_markdown({}) == []


@pytest.mark.parametrize("chosen", [0, 9])
def test_criteria_with_a_non_finite_candidate_still_draw(tmp_path, chosen):
    ks, types, bic, aic = _criteria()
    bic[3] = np.inf
    plots.plot_information_criteria(ks, types, bic, aic, tmp_path / "c.png", chosen=chosen)
