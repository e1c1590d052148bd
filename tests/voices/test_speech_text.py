"""The text of a speech job: cut at sentence ends into parts of at most 5,000 characters; and
the MP3 parts joined into one file a player can seek."""

from __future__ import annotations

import av

from audiotricks.jobs.speech import join_mp3, sentence_ends, split_for_speech
from tests.providers.elevenlabs_standin import mp3_bytes


def test_short_text_is_one_part():
    assert split_for_speech("  Hello there.  ") == ["Hello there."]
    assert split_for_speech(" \n\t ") == []


def test_parts_end_at_sentence_ends_and_keep_every_word():
    sentence = "The budget review comes first, and it takes a while. "
    text = sentence * 300  # 15,900 characters
    parts = split_for_speech(text)
    assert len(parts) == 4
    assert all(len(part) <= 5000 for part in parts)
    assert all(part.endswith("a while.") for part in parts)
    assert " ".join(parts).split() == text.split()


def test_closing_quotes_and_other_scripts_end_sentences():
    assert sentence_ends('He said "stop!" Then left. 終わり。次') == [15, 26, 31]
    text = "Wait?! \u201cYes.\u201d Done"
    assert [text[:end] for end in sentence_ends(text)] == ["Wait?!", "Wait?! \u201cYes.\u201d"]
    assert sentence_ends("3.14 is pi") == []  # no space after the point: not an end


def test_a_sentence_longer_than_a_part_is_cut_at_a_space():
    words = "word " * 2500  # 12,500 characters, no sentence end
    parts = split_for_speech(words, 5000)
    assert all(len(part) <= 5000 for part in parts)
    assert all(part.split() == ["word"] * len(part.split()) for part in parts)  # no word cut
    assert sum(len(part.split()) for part in parts) == 2500


def test_text_without_any_space_is_cut_hard():
    parts = split_for_speech("x" * 12_001, 5000)
    assert [len(part) for part in parts] == [5000, 5000, 2001]


def test_hostile_text_is_cut_in_one_pass():
    """Inputs that make backtracking cutters slow: all terminators, terminators without spaces,
    alternating closers. A million characters each; bounded work, whatever the shape."""
    for text in ("." * 1_000_000, "!)" * 500_000, "a." * 500_000, ("a" * 4999 + " ") * 200):
        parts = split_for_speech(text)
        assert all(0 < len(part) <= 5000 for part in parts)
        assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_mp3_parts_join_into_one_seekable_file(tmp_path):
    paths = []
    for index, seconds in enumerate((1.0, 2.0, 3.0)):
        path = tmp_path / f"part-{index}.mp3"
        path.write_bytes(mp3_bytes(seconds))
        paths.append(str(path))
    out = str(tmp_path / "speech.mp3")

    join_mp3(paths, out)

    with av.open(out) as container:
        stream = container.streams.audio[0]
        assert abs(container.duration / 1_000_000 - 6.0) < 0.2  # from the new Xing/Info header
        decoded = sum(frame.samples for frame in container.decode(stream)) / stream.rate
        assert abs(decoded - 6.0) < 0.2
        container.seek(4_000_000)  # 4 s in: a seek lands on a frame near it
        frame = next(container.decode(stream))
        assert 3.5 < float(frame.time) < 4.5
