"""torch.optim for tracejit: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam,
Adafactor, Rprop, ASGD, LBFGS, the learning-rate schedulers (`tracejit.optim.lr_scheduler`) and
weight averaging (`swa_utils`), with torch's defaults, update formulas, errors and state-dict
layout."""

from tracejit.optim import lr_scheduler, swa_utils
from tracejit.optim.adagrad import Adagrad
from tracejit.optim.adam import Adam, AdamW
from tracejit.optim.adaptive import Adadelta, Adafactor, Adamax, NAdam, RAdam
from tracejit.optim.classic import ASGD, Rprop
from tracejit.optim.lbfgs import LBFGS
from tracejit.optim.optimizer import Optimizer
from tracejit.optim.rmsprop import RMSprop
from tracejit.optim.sgd import SGD
from tracejit.optim.stateless import swap_in_optimizer_params_and_state

__all__ = ["ASGD", "LBFGS", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax",
           "NAdam", "Optimizer", "RAdam", "RMSprop", "Rprop", "lr_scheduler",
           "swa_utils", "swap_in_optimizer_params_and_state"]
