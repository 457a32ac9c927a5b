"""Review ratings: CSV / JSON Lines readers, sparse binary bag of words, 10-fold CV, polarity."""
import json

import numpy as np
import pytest

import deep_sparse.data as data
from deep_sparse.data import reviews


def test_read_csv_and_jsonl(tmp_path):
    (tmp_path / "r.csv").write_text('text,rating\n"Great food, great service",5\nmeh,3\n"bad,\nvery bad",1\n')
    texts, ratings = reviews.read_reviews(str(tmp_path / "r.csv"))
    assert texts == ["Great food, great service", "meh", "bad,\nvery bad"]
    assert ratings.tolist() == [5, 3, 1] and ratings.dtype == np.int32
    (tmp_path / "r.jsonl").write_text('{"text": "ok", "rating": 4}\n\n{"text": "no", "rating": "2"}\n')
    assert reviews.read_reviews(str(tmp_path / "r.jsonl"))[1].tolist() == [4, 2]


@pytest.mark.parametrize("name, content, message", [
    ("a.csv", "text,rating\nfine,4\nbad,6\n", r"a.csv, line 3: rating '6' is not an integer from 1 to 5"),
    ("b.csv", "body,stars\nx,1\n", r"b.csv, line 1: expected a CSV header with columns 'text' and 'rating'"),
    ("c.jsonl", '{"text": "x", "rating": 2}\n{"text": "y", "rating": 2.5}\n', r"c.jsonl, line 2: rating 2.5 is not an integer"),
    ("d.jsonl", '{"text": "x", "rating": 2}\nnot json\n', r"d.jsonl, line 2: not a JSON object"),
    ("e.jsonl", '{"text": "x"}\n', r"e.jsonl, line 1: expected an object with keys 'text' and 'rating'"),
    ("f.jsonl", '{"text": "x", "rating": true}\n', r"f.jsonl, line 1: rating True is not an integer"),
    ("g.csv", "text,rating\nx,inf\n", r"g.csv, line 2: rating 'inf' is not an integer"),
    ("h.csv", "text,rating\nfine,4\n  ,2\n", r"h.csv, line 3: the review text is empty"),
    ("i.jsonl", '{"text": "", "rating": 2}\n', r"i.jsonl, line 1: the review text is empty"),
])
def test_reader_errors_name_file_line_and_value(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        reviews.read_reviews(str(tmp_path / name))


def test_reader_names_the_line_of_a_non_utf8_byte(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("text,rating\nfine,4\ncaf\u00e9,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv, line 3: not UTF-8 text \(byte 0xe9"):
        reviews.read_reviews(str(tmp_path / "latin1.csv"))


def test_reader_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        reviews.read_reviews(str(tmp_path / "nope.csv"))


def test_vocabulary_bag_of_words_and_densify():
    texts = ["The food was GOOD, good!", "service was slow", "the food... the food", "don't go"]
    assert reviews.tokenize("Don't GO, 2x!") == ["don't", "go", "2x"]
    vocab = reviews.build_vocabulary(texts, k=3)
    assert vocab == {"food": 0, "the": 1, "was": 2}  # document frequency, then alphabetical
    matrix = reviews.bag_of_words(texts, vocab)
    assert matrix.shape == (4, 3) and matrix.indices.dtype == np.int32
    dense = matrix.densify()
    np.testing.assert_array_equal(dense, [[1, 1, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]])
    assert dense.dtype == np.float32
    np.testing.assert_array_equal(matrix.densify([2, 0]), dense[[2, 0]])
    np.testing.assert_array_equal(matrix.take([3, 1]).densify(), dense[[3, 1]])
    assert matrix.density() == pytest.approx(6 / 12)


def test_kfold_and_polarity():
    folds = reviews.kfold_indices(103, 10, seed=1)
    assert len(folds) == 10 and sorted(np.concatenate(folds).tolist()) == list(range(103))
    assert {len(f) for f in folds} == {10, 11}
    again = reviews.kfold_indices(103, 10, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    assert not np.array_equal(folds[0], reviews.kfold_indices(103, 10, seed=2)[0])
    with pytest.raises(ValueError, match="n_folds=1"):
        reviews.kfold_indices(5, 1)
    keep, labels = reviews.polarity([1, 2, 3, 4, 5, 3])
    assert keep.tolist() == [0, 1, 3, 4] and labels.tolist() == [0, 0, 1, 1]


def test_synthetic_file_and_folds(tmp_path):
    path = reviews.make_synthetic_reviews(str(tmp_path / "syn.csv"), 300, seed=4)
    assert reviews.make_synthetic_reviews(str(tmp_path / "again.csv"), 300, seed=4)
    assert open(path).read() == open(tmp_path / "again.csv").read()
    texts, ratings = reviews.read_reviews(path)
    assert len(texts) == 300 and all(t.startswith("synthetic ") for t in texts)
    assert set(ratings.tolist()) == {1, 2, 3, 4, 5}
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "reviews.csv").write_text(open(path).read())
    splits = data.load_splits("reviews", data_dir=str(tmp_path), fold=2, k=20)
    assert {k: v[0].shape[1] for k, v in splits.items()} == {"train": 20, "valid": 20, "test": 20}
    assert sum(v[0].shape[0] for v in splits.values()) == 300
    assert splits["test"][0].shape[0] == 30 and splits["train"][1].min() >= 0 and splits["train"][1].max() <= 4
    sparse = data.load_splits("reviews", data_dir=str(tmp_path), fold=2, k=20, dense=False)
    assert isinstance(sparse["train"][0], reviews.SparseBinary)
    np.testing.assert_array_equal(sparse["valid"][0].densify(), splits["valid"][0])
    polar = data.load_splits("reviews_polarity", data_dir=str(tmp_path), path=str(folder / "reviews.csv"), k=50)
    n_polar = int(np.sum(ratings != 3))
    assert sum(v[0].shape[0] for v in polar.values()) == n_polar
    assert set(polar["train"][1].tolist()) == {0, 1} and data.num_classes("reviews_polarity") == 2
    jsonl = reviews.make_synthetic_reviews(str(tmp_path / "r.jsonl"), 5, seed=0)
    assert len([json.loads(line) for line in open(jsonl)]) == 5


def test_vocabulary_comes_from_training_split_only(tmp_path):
    rows = [{"text": f"common word{i}", "rating": 1 + i % 5} for i in range(20)]
    rows[0]["text"] = "common onlyintest onlyintest"
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folds = reviews.kfold_indices(20, 10, seed=0)
    fold = next(i for i, f in enumerate(folds) if 0 in f)
    splits = reviews.load_fold(str(path), fold=fold, k=5000, dense=False)
    # 'onlyintest' is only in the test fold: not a feature; 'common' is in every review
    assert splits["train"][0].num_features == 1 + 16  # common + the 16 training-only words
    assert splits["test"][0].densify()[:, 0].tolist() == [1.0, 1.0]


def test_unlabeled_reviews_in_both_formats_rating_absent_or_ignored(tmp_path):
    """Issue 11.6: unlabeled reviews (section 4.2's 300,000) are read from the formats of labeled ones."""
    (tmp_path / "u.csv").write_text('text\n"great food"\nslow service\n')
    assert reviews.read_unlabeled_reviews(str(tmp_path / "u.csv")) == ["great food", "slow service"]
    (tmp_path / "r.csv").write_text("text,rating\nfine,n/a\nok,\n")  # a rating column is ignored, even unusable
    assert reviews.read_unlabeled_reviews(str(tmp_path / "r.csv")) == ["fine", "ok"]
    (tmp_path / "u.jsonl").write_text('{"text": "tasty"}\n\n{"text": "cold", "rating": 9}\n')
    assert reviews.read_unlabeled_reviews(str(tmp_path / "u.jsonl")) == ["tasty", "cold"]
    (tmp_path / "bad.csv").write_text("body\nx\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 1: expected a CSV header with columns 'text'"):
        reviews.read_unlabeled_reviews(str(tmp_path / "bad.csv"))
    (tmp_path / "empty.jsonl").write_text('{"text": "x"}\n{"text": " "}\n')
    with pytest.raises(ValueError, match=r"empty.jsonl, line 2: the review text is empty"):
        reviews.read_unlabeled_reviews(str(tmp_path / "empty.jsonl"))
    with pytest.raises(ValueError, match=r"u.csv, line 1: expected a CSV header with columns 'text' and 'rating'"):
        reviews.read_reviews(str(tmp_path / "u.csv"))  # a labeled data set still needs its ratings


def test_unlabeled_reviews_join_the_vocabulary_and_never_the_folds(tmp_path):
    path = reviews.make_synthetic_reviews(str(tmp_path / "r.jsonl"), 60, seed=3)
    (tmp_path / "u.csv").write_text("text\nunlabeledonly synthetic good\nunlabeledonly bland\nfresh\n")
    plain = reviews.load_fold(path, fold=4, k=5000, dense=False)
    joined = reviews.load_fold(path, fold=4, k=5000, dense=False, unlabeled=str(tmp_path / "u.csv"))
    assert "unlabeled" not in plain and set(joined) == {"train", "valid", "test", "unlabeled"}
    for split in ("train", "valid", "test"):  # the same reviews, labels and words present
        assert len(joined[split][0]) == len(plain[split][0])
        np.testing.assert_array_equal(joined[split][1], plain[split][1])
        assert len(joined[split][0].indices) == len(plain[split][0].indices)
    assert joined["train"][0].num_features == plain["train"][0].num_features + 1  # 'unlabeledonly'
    x, labels = joined["unlabeled"]
    assert labels is None and len(x) == 3 and x.num_features == joined["train"][0].num_features
    assert x.densify()[:2].sum(axis=0).max() == 2  # the unlabeled-only word is a feature of both
    dense = reviews.load_fold(path, fold=4, k=5000, unlabeled=str(tmp_path / "u.csv"))
    np.testing.assert_array_equal(dense["unlabeled"][0], x.densify())


def test_synthetic_unlabeled_reviews_have_no_rating(tmp_path):
    for name in ("u.jsonl", "u.csv"):
        path = reviews.make_synthetic_reviews(str(tmp_path / name), 30, seed=2, labeled=False)
        assert "rating" not in open(path).read()
        texts = reviews.read_unlabeled_reviews(path)
        assert len(texts) == 30 and all(t.startswith("synthetic ") for t in texts)
        with pytest.raises(ValueError, match="rating"):
            reviews.read_reviews(path)
    # the same reviews as a labeled file of that seed, without the ratings
    labeled, _ = reviews.read_reviews(reviews.make_synthetic_reviews(str(tmp_path / "l.csv"), 30, seed=2))
    assert labeled == texts
