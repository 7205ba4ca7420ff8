"""How to call models: one batched interface over scikit-learn, ONNX, Python callables and HTTP."""

from assay.models._base import Features, ModelAdapter, ModelError, ModelExitError, Prediction
from assay.models._callable import from_function
from assay.models._guard import PredictionCache, call_with_timeout, guarded_predict
from assay.models._load import FLAVORS, infer_flavor, load_model, load_registered
from assay.models._registry import model_versions, register_model
from assay.models._sklearn import from_estimator

__all__ = [
    "FLAVORS",
    "Features",
    "ModelAdapter",
    "ModelError",
    "ModelExitError",
    "Prediction",
    "PredictionCache",
    "call_with_timeout",
    "from_estimator",
    "from_function",
    "guarded_predict",
    "infer_flavor",
    "load_model",
    "load_registered",
    "model_versions",
    "register_model",
]
