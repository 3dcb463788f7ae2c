"""Writes tests/Unroll.Tests/Golden/distribution_losses.json: the Gaussian and Student-t negative log-likelihoods
of torch.distributions (float64) with the heads' parametrisation (sigma = softplus(s) + 1e-6, nu = 2 + softplus(d)),
their gradients by autograd, and the pinball loss, for DistributionLossesTests.
Run by hand from the repository root: /usr/bin/python3 scripts/reference/distribution_golden.py"""
import json
import torch

torch.manual_seed(3)
n = 7
y = torch.randn(n, dtype=torch.float64) * 2
softplus = torch.nn.functional.softplus

gauss = (torch.randn(n, 2, dtype=torch.float64)).requires_grad_()
sigma = softplus(gauss[:, 1]) + 1e-6
gauss_loss = -torch.distributions.Normal(gauss[:, 0], sigma).log_prob(y).mean()
gauss_loss.backward()

student = (torch.randn(n, 3, dtype=torch.float64) * 1.5).requires_grad_()
scale = softplus(student[:, 1]) + 1e-6
df = 2 + softplus(student[:, 2])
student_loss = -torch.distributions.StudentT(df, student[:, 0], scale).log_prob(y).mean()
student_loss.backward()

levels = [0.1, 0.5, 0.9]
quantiles = (torch.randn(n, 3, dtype=torch.float64)).requires_grad_()
tau = torch.tensor(levels, dtype=torch.float64)
error = y[:, None] - quantiles
pinball = torch.maximum(tau * error, (tau - 1) * error).mean()
pinball.backward()

flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
json.dump({
    "torch_version": torch.__version__,
    "targets": flat(y),
    "gaussian": {"predictions": flat(gauss), "loss": float(gauss_loss), "gradients": flat(gauss.grad)},
    "student_t": {"predictions": flat(student), "loss": float(student_loss), "gradients": flat(student.grad)},
    "pinball": {"levels": levels, "predictions": flat(quantiles), "loss": float(pinball), "gradients": flat(quantiles.grad)},
}, open("tests/Unroll.Tests/Golden/distribution_losses.json", "w"), indent=1)
