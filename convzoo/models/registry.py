"""Models by name, for the CLI and for checkpoints (which store a name and a config)."""
import inspect

from .autoencoder import ConvAutoencoder
from .dilated import DilatedNet
from .lenet import LeNet5
from .mobilenet import MobileNet
from .spatial_separable import SpatialSeparableNet
from .vgg import VGG

MODELS = {cls.name: cls for cls in (LeNet5, VGG, MobileNet, DilatedNet, SpatialSeparableNet, ConvAutoencoder)}


def list_models(task=None):
    """Registered model names, sorted; ``task="classification"`` keeps the classifiers only."""
    return sorted(name for name, cls in MODELS.items() if task is None or getattr(cls, "task", "classification") == task)


def get_model(name, **config):
    """Build the model registered as ``name`` with constructor arguments ``config``.

    Example:
        >>> get_model("lenet5", num_classes=10).config
        {'in_channels': 1, 'num_classes': 10}
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    cls = MODELS[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ValueError(f"model {name!r} takes no argument(s) {unknown}; it takes {sorted(accepted)}")
    return cls(**config)


def architecture(model):
    """``{"name": ..., "config": ...}`` of a registered model, as stored in checkpoints."""
    if getattr(model, "name", None) not in MODELS or not hasattr(model, "config"):
        raise ValueError(f"{type(model).__name__} is not a registered convzoo model; pass architecture= explicitly")
    return {"name": model.name, "config": dict(model.config)}
