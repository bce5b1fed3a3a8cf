"""PyTorch reference implementation of dualrerank (same math, same tensor names as the C++).

Modules: models (ModelConfig, CandidateEncoder, NarStudent, NarStudentEnsemble, ArTeacher, ListEvaluator),
decode (greedy, confident, teacher_greedy, teacher_beam), safetensors (a small reader/writer),
model_io (save_model / load_model with the dualrerank metadata), weights (portable seeded weights
that C++ reproduces bit for bit). See docs/pytorch.md.
"""

from .models import (ArTeacher, CandidateEncoder, ListEvaluator, ModelConfig, NarStudent, NarStudentEnsemble, Request,
                     make_model, pack, state_names)
from .model_io import FORMAT, FORMAT_VERSION, load_model, save_model
from . import decode, safetensors, weights

__all__ = ["ArTeacher", "CandidateEncoder", "ListEvaluator", "ModelConfig", "NarStudent", "NarStudentEnsemble", "Request",
           "make_model",
           "pack", "state_names", "FORMAT", "FORMAT_VERSION", "load_model", "save_model", "decode", "safetensors",
           "weights"]
