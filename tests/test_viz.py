"Tests of sign_notes.viz: animations, viewers and the file helpers (matplotlib's Agg backend, small sizes)."

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from sign_notes.data import write_landmark_parquet
from sign_notes.graph import FSD10_EDGES
from sign_notes.landmarks import HAND_CONNECTIONS, LHAND, RHAND, POINT_LANDMARKS
from sign_notes.viz import (
    MAX_FRAMES,
    animate_file,
    animate_frames,
    contact_sheet,
    ffmpeg_available,
    filter_nans,
    frame_scrubber,
    fsd_frames,
    plot_frame,
    plotly_viewer,
    resolve_parts,
    save_animation,
    side_by_side,
    tour_figures,
)

SMALL = dict(dpi=30, figsize=(2, 2))
# some tests build an animation only to look at its artists, never rendering it
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


def holistic(T=8, seed=0, empty=(), rh_missing=()):
    "A [T, 543, 3] sequence of points inside the image; frames in `empty` all NaN, the right hand NaN in `rh_missing`."
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, (T, 543, 3)).astype(np.float32)
    x[:, :, 2] -= 0.5
    for t in rh_missing:
        x[t, RHAND] = np.nan
    for t in empty:
        x[t] = np.nan
    return x


def skeleton(T=12, pad=5, seed=0):
    "A (3, T + pad, 25, 1) BODY_25 skeleton in PaddleVideo's layout: x, y, confidence; zero padding at the end."
    rng = np.random.default_rng(seed)
    out = np.zeros((3, T + pad, 25, 1))
    out[:2, :T, :, 0] = rng.uniform(-0.3, 0.3, (2, T, 25))
    out[2, :T] = 0.8
    out[:, 2, 4] = 0  # right wrist not found in frame 3
    return out


def gif_frames(path):
    return Image.open(path).n_frames


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_default_cap_keeps_notebooks_small():
    anim = animate_frames(holistic(MAX_FRAMES + 20)[:, LHAND], HAND_CONNECTIONS, **SMALL)
    assert len(anim.frame_index) == MAX_FRAMES
    assert anim.frame_index[0] == 0 and anim.frame_index[-1] == MAX_FRAMES + 19  # spread over the whole sequence


def test_plotly_three_d_has_one_frame_per_input_frame():
    fig3 = plotly_viewer(holistic(3), three_d=True)
    assert len(fig3.frames) == 3 and fig3.data[0].type == "scatter3d"


def test_all_nan_sequence_raises_nothing_to_draw(tmp_path):
    x = np.full((5, 21, 3), np.nan, np.float32)
    for f in (
        lambda: animate_frames(x, HAND_CONNECTIONS),
        lambda: plotly_viewer(x),
        lambda: contact_sheet(x),
        lambda: frame_scrubber(x),
        lambda: plot_frame(x[0]),
        lambda: tour_figures(x, tmp_path),
    ):
        with pytest.raises(ValueError, match="nothing to draw"):
            f()


def test_a_single_frame_works(tmp_path):
    x = holistic(1)
    anim = animate_frames(x, **SMALL)
    assert gif_frames(save_animation(anim, tmp_path / "one.gif")) == 1
    assert len(plotly_viewer(x).frames) == 1
    assert frame_scrubber(x).slider.max == 0
    assert plot_frame(x[0]) is not None


def test_nan_hand_stays_hidden_in_every_animation_frame():
    x = holistic(4, rh_missing=(1, 2))
    anim = animate_frames(x, **SMALL)
    ax = anim._fig.axes[0]
    for i in range(4):
        anim._func(i)
        rh = [line for line in ax.lines if line.get_label() == "right hand"][0].get_xydata()
        assert np.isfinite(rh).all(1).sum() == (0 if i in (1, 2) else 21)
        assert not (np.concatenate([line.get_xydata() for line in ax.lines]) == 0).all(1).any()


def test_point_landmarks_with_index_labels():
    x = holistic(2)
    ax = plot_frame(x[0, POINT_LANDMARKS], [], POINT_LANDMARKS)
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 118 and labels[:2] == ["0", "61"] and labels == [str(i) for i in POINT_LANDMARKS]
    with pytest.raises(ValueError, match="labels"):
        plot_frame(x[0, POINT_LANDMARKS], [], POINT_LANDMARKS[:5])


def test_fsd_frames_treats_zero_confidence_as_missing_and_padding_as_empty():
    s = skeleton(T=12, pad=5)
    f = fsd_frames(s)
    assert f.shape == (17, 25, 2)
    assert np.isnan(f[2, 4]).all() and np.isnan(f[12:]).all()
    assert len(filter_nans(f)) == 12
    assert np.array_equal(fsd_frames(np.stack([s, s * 0.5]), index=1), fsd_frames(s * 0.5), equal_nan=True)
    with pytest.raises(ValueError, match="out of range"):
        fsd_frames(s[None], index=1)
    with pytest.raises(ValueError, match="C=5"):
        fsd_frames(np.zeros((5, 4, 25, 1)))
    ax = plot_frame(f[2], FSD10_EDGES)  # joint 4 has confidence 0 in this frame
    assert not (np.concatenate([line.get_xydata() for line in ax.lines]) == 0).all(1).any()


def test_animate_file_fsd_npy(tmp_path):
    np.save(tmp_path / "one.npy", skeleton(T=12, pad=5))
    out = animate_file(tmp_path / "one.npy", tmp_path / "one.gif", max_frames=8, fps=5)
    assert out == tmp_path / "one.gif" and gif_frames(out) == 8
    np.save(tmp_path / "train_data.npy", np.stack([skeleton(T=6, pad=4), skeleton(T=10, pad=0, seed=1)]))
    assert gif_frames(animate_file(tmp_path / "train_data.npy", tmp_path / "second.gif", index=1)) == 10
    with pytest.raises(ValueError, match="out of range"):
        animate_file(tmp_path / "train_data.npy", tmp_path / "x.gif", index=2)
    with pytest.raises(ValueError, match="unsupported animation format"):
        animate_file(tmp_path / "one.npy", tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        animate_file(tmp_path / "missing.npy", tmp_path / "x.gif")


def test_animate_file_real_fsd_sample(tmp_path, real_fsd):
    p = real_fsd  # skips when ../shared/data is absent
    out = animate_file(p, tmp_path / "skater.gif", max_frames=12)
    assert gif_frames(out) == 12  # 117 real frames, capped; padding dropped


def test_animate_file_parquet(tmp_path):
    pq = write_landmark_parquet(holistic(5, empty=(2,)), tmp_path / "seq.parquet")
    assert gif_frames(animate_file(pq, tmp_path / "seq.gif")) == 4
    with pytest.raises(ValueError, match="unsupported input"):
        animate_file(tmp_path / "seq.gif", tmp_path / "x.gif")


def test_animate_file_real_parquet(tmp_path, real_islr):
    p = real_islr  # skips when ../shared/data is absent
    assert gif_frames(animate_file(p, tmp_path / "real.gif", max_frames=10)) == 10


def test_mp4_needs_ffmpeg(tmp_path):
    pq = write_landmark_parquet(holistic(3), tmp_path / "seq.parquet")
    if ffmpeg_available():
        assert animate_file(pq, tmp_path / "seq.mp4").stat().st_size > 0
    else:
        with pytest.raises(RuntimeError, match="ffmpeg"):
            animate_file(pq, tmp_path / "seq.mp4")


def test_tour_figures_writes_a_gif_and_a_contact_sheet(tmp_path):
    paths = tour_figures(holistic(20), tmp_path / "tour", max_frames=6, n_sheet=6)
    assert set(paths) == {"gif", "png"}
    with Image.open(paths["png"]) as im:
        assert im.size[0] > 100 and im.size[1] > 50


def test_side_by_side_frame_lists_padding_and_empty_input():
    a, b = holistic(10), holistic(5, seed=1)
    hand_a, hand_b = a[:, LHAND], b[:, LHAND]  # two frame lists with their edges
    assert len(side_by_side(list(hand_a), list(hand_b), edges=HAND_CONNECTIONS, max_frames=4, **SMALL).frame_index) == 4
    with pytest.raises(ValueError, match="nothing to draw in b"):
        side_by_side(a, np.full_like(b, np.nan))
    padded = fsd_frames(skeleton(T=12, pad=5))  # zero padding at the end is cut, not shown
    assert len(side_by_side(padded, padded[::2], **SMALL).frame_index) == 12


def test_bad_input_is_refused_naming_the_problem(tmp_path):
    with pytest.raises(ValueError, match="empty sequence"):
        filter_nans(np.zeros((0, 4, 3)))
    with pytest.raises(ValueError, match=re.escape("[T, V, C]")):
        filter_nans(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="looks like a batch"):
        filter_nans(np.zeros((2, 5, 543, 3)))
    with pytest.raises(ValueError, match="uses point 10"):
        resolve_parts(10, HAND_CONNECTIONS)
    with pytest.raises(ValueError, match="unknown parts"):
        resolve_parts(5, parts="octopus")
    with pytest.raises(ValueError, match="C=2"):
        plotly_viewer(fsd_frames(skeleton()), three_d=True)
    with pytest.raises(ValueError, match="same number of points"):
        side_by_side(holistic(3), holistic(3)[:, :21])
    with pytest.raises(ValueError, match="max_frames must be an integer >= 1, got 0"):
        animate_frames(holistic(3), max_frames=0)
    anim = animate_frames(holistic(2), **SMALL)
    with pytest.raises(ValueError, match="unsupported animation format"):
        save_animation(anim, tmp_path / "a.avi")
    assert gif_frames(save_animation(anim, tmp_path / "a.gif")) == 2  # the same animation, to a right name


def test_titles_count_real_frames_not_the_zero_padding():  # issue 11, row 31
    f = fsd_frames(skeleton(T=12, pad=2488))  # a 12-frame recording padded to 2500, as FSD-10 pads them
    anim = animate_frames(f, FSD10_EDGES, max_frames=4, **SMALL)
    anim._func(len(anim.frame_index) - 1)
    assert anim._fig.axes[0].get_title() == "frame 12/12"
    fig = contact_sheet(f, FSD10_EDGES, n=3)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["frame 1/12", "frame 7/12", "frame 12/12"]
    scrubber = frame_scrubber(f, FSD10_EDGES)
    assert scrubber.slider.max == 11


def test_animate_file_refuses_an_index_it_would_ignore(tmp_path):  # issue 11, row 10
    np.save(tmp_path / "one.npy", skeleton())
    with pytest.raises(ValueError, match=r"index=3 given, but one.npy holds one recording"):
        animate_file(tmp_path / "one.npy", tmp_path / "x.gif", index=3)
    pq = write_landmark_parquet(holistic(3), tmp_path / "seq.parquet")
    with pytest.raises(ValueError, match="holds one recording"):
        animate_file(pq, tmp_path / "x.gif", index=1)
    assert gif_frames(animate_file(tmp_path / "one.npy", tmp_path / "zero.gif", index=0)) == 12  # the only clip
    assert not (tmp_path / "x.gif").exists()


def test_unreadable_npy_and_missing_ffmpeg_are_named(tmp_path):
    np.save(tmp_path / "cut.npy", skeleton())
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="cut.npy is not a readable .npy file"):
        animate_file(tmp_path / "cut.npy", tmp_path / "x.gif")
    if not ffmpeg_available():  # issue 11, row 21: the message names the GIF to ask for instead
        with pytest.raises(RuntimeError, match=r"ffmpeg.*x\.gif"):
            animate_file(tmp_path / "cut.npy", tmp_path / "x.mp4")


def test_tour_figures_refused_input_leaves_no_folder(tmp_path):  # issue 11, row 34
    with pytest.raises(ValueError, match="nothing to draw"):
        tour_figures(np.full((5, 21, 3), np.nan, np.float32), tmp_path / "new")
    assert not (tmp_path / "new").exists()
