//! Adam as `torch.optim.Adam` computes it (no weight decay, no AMSGrad), with
//! the learning rate given per step so the trainer's schedule can lower it.

use tch::Tensor;

/// The official trainer's betas (`beta1=0.5`) and PyTorch's default ε.
const BETA1: f64 = 0.5;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

pub(crate) struct Adam {
    /// Each parameter with its first and second moment.
    parameters: Vec<(Tensor, Tensor, Tensor)>,
    steps: i32,
}

impl Adam {
    /// Optimises `parameters` (leaves that track gradients; shallow copies
    /// share their storage).
    pub(crate) fn new(parameters: &[&Tensor]) -> Self {
        Self {
            parameters: parameters
                .iter()
                .map(|p| (p.shallow_clone(), p.zeros_like(), p.zeros_like()))
                .collect(),
            steps: 0,
        }
    }

    /// The optimiser's state: the step count and each parameter's moments,
    /// in the order the parameters were given (for checkpoints).
    pub(crate) fn state(&self) -> (i32, Vec<(Tensor, Tensor)>) {
        (
            self.steps,
            self.parameters
                .iter()
                .map(|(_, m, v)| (m.copy(), v.copy()))
                .collect(),
        )
    }

    /// Restores a [`Self::state`] taken from an optimiser over parameters of
    /// the same shapes, in the same order; false (and nothing changed) when
    /// they differ.
    pub(crate) fn restore(&mut self, steps: i32, moments: &[(Tensor, Tensor)]) -> bool {
        let fits = moments.len() == self.parameters.len()
            && self
                .parameters
                .iter()
                .zip(moments)
                .all(|((p, ..), (m, v))| m.size() == p.size() && v.size() == p.size());
        if !fits {
            return false;
        }
        let _no_grad = tch::no_grad_guard();
        for ((_, m, v), (saved_m, saved_v)) in self.parameters.iter_mut().zip(moments) {
            m.copy_(saved_m);
            v.copy_(saved_v);
        }
        self.steps = steps;
        true
    }

    /// Whether every gradient is finite (a step from a NaN gradient would
    /// spoil the weights for good).
    pub(crate) fn gradients_finite(&self) -> bool {
        self.parameters.iter().all(|(p, ..)| {
            let grad = p.grad();
            !grad.defined() || bool::try_from(grad.isfinite().all()).unwrap_or(false)
        })
    }

    /// Clears the gradients without a step.
    pub(crate) fn zero_grad(&mut self) {
        for (p, ..) in &mut self.parameters {
            p.zero_grad();
        }
    }

    /// One step at `learning_rate`, then clears the gradients. The step is
    /// only applied when every updated parameter is finite; returns whether
    /// it was.
    pub(crate) fn step(&mut self, learning_rate: f64) -> bool {
        let _no_grad = tch::no_grad_guard();
        let steps = self.steps + 1;
        let correction1 = 1.0 - BETA1.powi(steps);
        let correction2_sqrt = (1.0 - BETA2.powi(steps)).sqrt();
        let step_size = learning_rate / correction1;
        let mut updates = Vec::with_capacity(self.parameters.len());
        for (p, m, v) in &self.parameters {
            let grad = p.grad();
            if !grad.defined() {
                updates.push(None);
                continue;
            }
            let m = m * BETA1 + &grad * (1.0 - BETA1);
            let v = v * BETA2 + grad.square() * (1.0 - BETA2);
            let updated = p - &m / (v.sqrt() / correction2_sqrt + EPS) * step_size;
            if !bool::try_from(updated.isfinite().all()).unwrap_or(false) {
                break;
            }
            updates.push(Some((m, v, updated)));
        }
        if updates.len() < self.parameters.len() {
            self.zero_grad();
            return false;
        }
        for ((p, m, v), update) in self.parameters.iter_mut().zip(updates) {
            if let Some((new_m, new_v, updated)) = update {
                m.copy_(&new_m);
                v.copy_(&new_v);
                p.copy_(&updated);
            }
        }
        self.steps = steps;
        self.zero_grad();
        true
    }
}
