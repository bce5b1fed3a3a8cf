"""The Python LETOR reader accepts and rejects what the C++ reader does (the cases of tests/test_letor.cpp),
and the request-set / outputs files round-trip."""

import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dualrerank_ref.dataset import (Outputs, RequestSet, compare_outputs, read_outputs, read_requests,  # noqa: E402
                                    write_outputs, write_requests)
from dualrerank_ref.letor import LetorLimits, read_letor, read_letor_file, top_by_label  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "letor")


def path(name):
    return os.path.join(DATA, name)


def message(fn):
    try:
        fn()
    except ValueError as e:
        return str(e)
    return ""


def parse(text, groups=None, **kw):
    return read_letor(text.encode(), "<string>", None if groups is None else groups.encode(), **kw)


class LetorFiles(unittest.TestCase):
    def test_sample_with_qid(self):
        ds = read_letor_file(path("sample.txt"))
        self.assertEqual([q.qid for q in ds.queries], [10, 7, 12])
        self.assertEqual([q.features.shape[0] for q in ds.queries], [3, 2, 1])
        self.assertEqual(ds.width, 6)  # max index 5, column 0 empty
        self.assertEqual(ds.queries[0].labels.tolist(), [2, 0, 1])
        np.testing.assert_array_equal(ds.queries[0].features, np.array(
            [[0, 0.5, 0, 1.25, 0, 0], [0, 0, -1, 0.5, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32))
        self.assertEqual(ds.queries[1].features[0, 1], np.float32(0.01))
        self.assertEqual(ds.queries[2].features.tolist(), [[0, 1, 2, 3, 4, 5]])
        self.assertEqual(read_letor_file(path("sample.txt"), feature_width=8).queries[1].features.shape, (2, 8))

    def test_group_file_and_crlf(self):
        ds = read_letor_file(path("sample_nogroup.txt"), path("sample_nogroup.txt.query"))
        self.assertEqual([q.qid for q in ds.queries], [1, 2])
        self.assertEqual(ds.queries[0].labels.tolist(), [1, 0, 2])
        self.assertEqual(ds.width, 4)
        self.assertEqual(ds.queries[1].features.reshape(-1).tolist(), [0, 0, 2, 3, 0, 0, 0, 0])
        msg = message(lambda: read_letor_file(path("sample_nogroup.txt"), path("sample_nogroup_bad.query")))
        self.assertIn("sample_nogroup_bad.query:2", msg)
        self.assertIn("sum to 6", msg)
        self.assertIn("sum to 2", message(lambda: parse("1 1:1\n0 1:2\n1 1:3\n", "2\n")))

    def test_malformed_files_name_file_and_line(self):
        for name, where, what in [("bad_label.txt", "bad_label.txt:3", "bad label"),
                                  ("unsorted_index.txt", "unsorted_index.txt:2", "not increasing"),
                                  ("duplicate_index.txt", "duplicate_index.txt:1", "duplicate feature index"),
                                  ("negative_index.txt", "negative_index.txt:3", "negative feature index"),
                                  ("qid_back.txt", "qid_back.txt:4", "earlier query")]:
            msg = message(lambda: read_letor_file(path(name)))
            self.assertIn(where, msg, name)
            self.assertIn(what, msg, name)
        self.assertIn("cannot open", message(lambda: read_letor_file(path("no_such_file.txt"))))


class LetorStrings(unittest.TestCase):
    def test_strict_parsing(self):
        cases = [("1 qid:1 1:nan\n", "<string>:1: bad value"), ("1 qid:1 1:1e999\n", "bad value"),
                 ("1 qid:1 1:1e39\n", "overflows float"), ("-1 qid:1 1:1\n", "outside [0"),
                 ("40 qid:1 1:1\n", "outside [0"), ("inf qid:1 1:1\n", "bad label"), ("1 qid:x 1:1\n", "bad qid"),
                 ("1 qid:1 1:1 qid:2\n", "only once"), ("1 qid:1 1\n", "expected index:value"),
                 ("1 qid:1 a:1\n", "bad feature index"), ("1 qid:1 1.5:1\n", "bad feature index"),
                 ("1 qid:1 1:1\n0 2:1\n", "<string>:2: line without qid"), ("1 1:1\n", "no group"),
                 ("1 qid:1 99999999:1\n", "exceeds the limit"),
                 # Python's float() and int() accept these; from_chars does not
                 ("1 qid:1 1:1_0\n", "bad value"), ("1 qid:1 1:++1\n", "bad value"), ("1 qid:1 1:0x1\n", "bad value"),
                 ("1 qid:1 1:infinity\n", "bad value"), ("1 qid:1_0 1:1\n", "bad qid"),
                 ("1 qid:-1 1:1\n", "bad qid"), ("1 qid:1 +-1:1\n", "bad feature index")]
        for text, what in cases:
            self.assertIn(what, message(lambda: parse(text)), text)
        self.assertIn("overflows float", message(lambda: parse("1 qid:1 1:3.4028235677973366e38\n")))
        # FLT_MAX as float writers print it rounds to FLT_MAX: kept (as the C++ reader)
        big = parse("1 qid:1 1:3.40282347e+38 2:-3.4028235e38\n")
        fmax = float(np.finfo(np.float32).max)
        self.assertEqual(big.queries[0].features.reshape(-1).tolist(), [0, fmax, -fmax])
        self.assertIn("use one or the other", message(lambda: parse("1 qid:1 1:1\n", "1\n")))
        self.assertIn("<groups>:1: query size must be positive", message(lambda: parse("1 1:1\n", "0\n")))
        self.assertIn("one query size per line", message(lambda: parse("1 1:1\n", "1 2\n")))

        ds = parse("+1\tqid:3\t0:+2.5e-1  7:-4 # tail\n0 qid:3")
        self.assertEqual(ds.width, 8)
        self.assertEqual(ds.queries[0].features[0, 0], np.float32(0.25))
        self.assertEqual(ds.queries[0].features[0, 7], np.float32(-4))
        self.assertEqual(len(parse("").queries), 0)
        self.assertEqual(len(parse("# only a comment\n\n").queries), 0)
        self.assertIn("NUL byte", message(lambda: parse("1 qid:1 1:1\x00\n")))

    def test_caps_and_pinned_width(self):
        lim = LetorLimits(max_line_length=16)
        self.assertEqual(len(parse("1 qid:1 1:0.1234\n", limits=lim).queries), 1)  # exactly 16 bytes
        self.assertIn("<string>:2: line longer than the limit of 16",
                      message(lambda: parse("1 qid:1 1:0.1234\n1 qid:1 1:0.12345\n", limits=lim)))
        lim = LetorLimits(max_docs_per_query=2)
        self.assertIn("<string>:3: query 1 has more than 2 documents",
                      message(lambda: parse("1 qid:1\n1 qid:1\n1 qid:1\n", limits=lim)))
        self.assertIn("exceeds the limit 2", message(lambda: parse("1\n1\n1\n", "3\n", limits=lim)))
        self.assertEqual(parse("1 qid:1 1:1\n", feature_width=4).width, 4)
        self.assertIn("does not fit the given width 4", message(lambda: parse("1 qid:1 4:1\n", feature_width=4)))
        self.assertIn("more than 2 rows", message(lambda: parse("1 qid:1\n1 qid:1\n1 qid:2\n",
                                                                limits=LetorLimits(max_rows=2))))

    def test_random_garbage_only_raises_value_error(self):
        rng = np.random.default_rng(2024)
        alphabet = "0123456789 :.-+eq#id\t\nxn"
        for _ in range(2000):
            text = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), rng.integers(0, 60)))
            try:
                ds = parse(text)
            except ValueError:
                continue
            for q in ds.queries:
                self.assertGreaterEqual(q.features.shape[0], 1)

    def test_top_by_label_ties_in_file_order(self):
        self.assertEqual(top_by_label(np.array([1, 3, 3, 0, 2], dtype=np.float32), 4), [1, 2, 4, 0])


class Files(unittest.TestCase):
    def test_request_set_and_outputs_round_trip(self):
        rng = np.random.default_rng(1)
        rs = RequestSet([rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 6)],
                        context=rng.standard_normal((2, 2)).astype(np.float32),
                        ranks=[np.arange(4), np.arange(6)[::-1].copy()], targets=np.array([[0, 1], [5, 4]]),
                        labels=[np.ones(4, np.float32), np.zeros(6, np.float32)])
        with tempfile.TemporaryDirectory() as d:
            write_requests(os.path.join(d, "r.safetensors"), rs)
            back = read_requests(os.path.join(d, "r.safetensors"))
            self.assertEqual(len(back), 2)
            np.testing.assert_array_equal(back.features[1], rs.features[1])
            np.testing.assert_array_equal(back.ranks[1], rs.ranks[1])
            np.testing.assert_array_equal(back.targets, rs.targets)
            o = Outputs("nar_student", 2, np.array([4, 6]), np.array([[0, 1], [5, 4]]), rng.standard_normal(20))
            write_outputs(os.path.join(d, "o.safetensors"), o)
            o2 = read_outputs(os.path.join(d, "o.safetensors"))
            self.assertTrue(compare_outputs(o, o2, 1e-12)["ok"])
            o2.slates[1] = [4, 5]
            self.assertFalse(compare_outputs(o, o2, 1e-12)["ok"])
            o2 = read_outputs(os.path.join(d, "o.safetensors"))
            o2.logits[3] += 1e-3
            self.assertFalse(compare_outputs(o, o2, 1e-6)["ok"])
            o2.logits[3] = -np.inf
            self.assertFalse(compare_outputs(o, o2, 1.0)["ok"])


if __name__ == "__main__":
    unittest.main()
