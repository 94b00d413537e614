"""torch.optim.LBFGS: limited-memory BFGS over all parameters flattened into one vector, with
torch's optional strong-Wolfe line search; a port of torch's code (same operations, same
order), so the iterates agree with torch's."""

from __future__ import annotations

from typing import Any

from tracejit.autograd import enable_grad, no_grad
from tracejit.functions import cat
from tracejit.optim.optimizer import Optimizer, _check_nonnegative, _to_scalar
from tracejit.tensor import Tensor

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to bounds."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = d2_square.sqrt()
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


class _Bracket:
    """The line search's interval: step sizes, losses, gradients and slopes at both ends."""

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd

    def order(self) -> tuple[int, int]:
        """(low, high): the end with the lower loss first."""
        return (0, 1) if self.f[0] <= self.f[-1] else (1, 0)

    def set(self, pos: int, t, f, g, gtd) -> None:
        self.t[pos], self.f[pos], self.g[pos], self.gtd[pos] = t, f, g, gtd


def _bracket_minimum(obj_func, x, t, d, f, g, gtd, c1, c2, max_ls):
    """Phase 1 of the strong-Wolfe search: grow t until an interval holds a minimum (or t
    already satisfies the conditions). Returns (bracket, done, ls_iter, evals, f_new, g_new)."""
    g = g.clone()
    f_new, g_new = obj_func(x, t, d)
    evals, ls_iter = 1, 0
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            return _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.clone()],
                            [gtd_prev, gtd_new]), False, ls_iter, evals, f_new, g_new
        if abs(gtd_new) <= -c2 * gtd:
            return _Bracket([t], [f_new], [g_new], [gtd_new]), True, ls_iter, evals, f_new, g_new
        if gtd_new >= 0:
            return _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.clone()],
                            [gtd_prev, gtd_new]), False, ls_iter, evals, f_new, g_new
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.clone(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    # torch's search gives up with [0, t] (and no slopes: phase 2 does not run)
    return _Bracket([0, t], [f, f_new], [g, g_new], None), False, ls_iter, evals, f_new, g_new


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """torch's strong-Wolfe line search along d from x: (loss, flat grad, step, evaluations)."""
    d_norm = d.abs().max()
    bracket, done, ls_iter, evals, _, _ = _bracket_minimum(obj_func, x, t, d, f, g, gtd, c1, c2,
                                                           max_ls)
    insuf_progress = False
    low_pos, high_pos = bracket.order()
    while not done and ls_iter < max_ls:
        if abs(bracket.t[1] - bracket.t[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket.t[0], bracket.f[0], bracket.gtd[0], bracket.t[1],
                               bracket.f[1], bracket.gtd[1])
        t, insuf_progress = _keep_inside(t, bracket.t, insuf_progress)
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket.f[low_pos]:
            bracket.set(high_pos, t, f_new, g_new.clone(), gtd_new)
            low_pos, high_pos = (0, 1) if bracket.f[0] <= bracket.f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket.t[high_pos] - bracket.t[low_pos]) >= 0:
                bracket.set(high_pos, bracket.t[low_pos], bracket.f[low_pos],
                            bracket.g[low_pos], bracket.gtd[low_pos])
            bracket.set(low_pos, t, f_new, g_new.clone(), gtd_new)
    return bracket.f[low_pos], bracket.g[low_pos], bracket.t[low_pos], evals


def _keep_inside(t, ends, insuf_progress):
    """Move a trial step that is too close to an end of the interval 10% inside it."""
    eps = 0.1 * (max(ends) - min(ends))
    if not min(max(ends) - t, t - min(ends)) < eps:
        return t, False
    if not (insuf_progress or t >= max(ends) or t <= min(ends)):
        return t, True
    if abs(t - max(ends)) < abs(t - min(ends)):
        return max(ends) - eps, False
    return min(ends) + eps, False


class LBFGS(Optimizer):
    """L-BFGS with torch's defaults (lr=1, max_iter=20, history_size=100); `step(closure)`
    needs a closure that recomputes the loss and its gradients."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None) -> None:
        _check_nonnegative(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _gather_flat_grad(self) -> Tensor:
        return cat([p.new(p.numel()).zero_() if p.grad is None else p.grad.reshape(-1)
                    for p in self._params], 0)

    def _add_grad(self, step_size, update: Tensor) -> None:
        offset = 0
        for p in self._params:
            numel = p.numel()
            p.add_(update[offset:offset + numel].view_as(p), alpha=step_size)
            offset += numel

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        for p, pdata in zip(self._params, x):
            p.copy_(pdata)
        return loss, flat_grad

    @no_grad()
    def step(self, closure) -> Any:  # type: ignore[override]
        """Up to max_iter L-BFGS iterations; returns the loss the closure gave first."""
        closure = enable_grad()(closure)
        group = self.param_groups[0]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = closure()
        loss = float(orig_loss)
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if flat_grad.abs().max() <= group["tolerance_grad"]:
            return orig_loss
        _Iterations(self, closure, group, state, loss, flat_grad).run()
        return orig_loss


class _Iterations:
    """One `step` of LBFGS: its loop, with the history kept in the optimizer state."""

    _KEYS = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")

    def __init__(self, opt, closure, group, state, loss, flat_grad):
        self.opt, self.closure, self.group, self.state = opt, closure, group, state
        self.loss, self.flat_grad = loss, flat_grad
        for key in self._KEYS:
            setattr(self, key, state.get(key))

    def run(self) -> None:
        group, state = self.group, self.state
        lr, max_iter = _to_scalar(group["lr"]), group["max_iter"]
        tolerance_change = group["tolerance_change"]
        n_iter, current_evals = 0, 1
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            self._direction()
            if self.prev_flat_grad is None:
                self.prev_flat_grad = self.flat_grad.clone()
            else:
                self.prev_flat_grad.copy_(self.flat_grad)
            self.prev_loss = self.loss
            if state["n_iter"] == 1:
                self.t = min(1.0, 1.0 / self.flat_grad.abs().sum()) * lr
            else:
                self.t = lr
            gtd = self.flat_grad.dot(self.d)
            if gtd > -tolerance_change:
                break
            ls_func_evals, opt_cond = self._move(gtd, n_iter, current_evals)
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if (n_iter == max_iter or current_evals >= group["max_eval"] or opt_cond
                    or self.d.mul(self.t).abs().max() <= tolerance_change
                    or abs(self.loss - self.prev_loss) < tolerance_change):
                break
        for key in self._KEYS:
            state[key] = getattr(self, key)

    def _direction(self) -> None:
        """The search direction d: steepest descent first, then the two-loop recursion."""
        state = self.state
        if state["n_iter"] == 1:
            self.d = self.flat_grad.neg()
            self.old_dirs, self.old_stps, self.ro, self.H_diag = [], [], [], 1
            return
        y = self.flat_grad.sub(self.prev_flat_grad)
        s = self.d.mul(self.t)
        ys = y.dot(s)
        if ys > 1e-10:
            if len(self.old_dirs) == self.group["history_size"]:
                self.old_dirs.pop(0)
                self.old_stps.pop(0)
                self.ro.pop(0)
            self.old_dirs.append(y)
            self.old_stps.append(s)
            self.ro.append(1.0 / ys)
            self.H_diag = ys / y.dot(y)
        num_old = len(self.old_dirs)
        if "al" not in state:
            state["al"] = [None] * self.group["history_size"]
        al = state["al"]
        q = self.flat_grad.neg()
        for i in range(num_old - 1, -1, -1):
            al[i] = self.old_stps[i].dot(q) * self.ro[i]
            q.add_(self.old_dirs[i], alpha=-al[i])
        self.d = r = q.mul(self.H_diag)
        for i in range(num_old):
            be_i = self.old_dirs[i].dot(r) * self.ro[i]
            r.add_(self.old_stps[i], alpha=al[i] - be_i)

    def _move(self, gtd, n_iter, current_evals):
        """Step along d (with the line search if asked); returns (evaluations, converged)."""
        opt, group = self.opt, self.group
        line_search_fn = group["line_search_fn"]
        if line_search_fn is not None:
            if line_search_fn != "strong_wolfe":
                raise RuntimeError("only 'strong_wolfe' is supported")
            x_init = [p.clone() for p in opt._params]

            def obj_func(x, t, d):
                return opt._directional_evaluate(self.closure, x, t, d)

            self.loss, self.flat_grad, self.t, evals = _strong_wolfe(
                obj_func, x_init, self.t, self.d, self.loss, self.flat_grad, gtd,
                max_ls=group["max_eval"] - current_evals)
            opt._add_grad(self.t, self.d)
            return evals, bool(self.flat_grad.abs().max() <= group["tolerance_grad"])
        opt._add_grad(self.t, self.d)
        if n_iter == group["max_iter"]:
            return 0, False
        with enable_grad():
            self.loss = float(self.closure())
        self.flat_grad = opt._gather_flat_grad()
        return 1, bool(self.flat_grad.abs().max() <= group["tolerance_grad"])
