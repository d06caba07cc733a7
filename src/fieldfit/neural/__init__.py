"""Amortized neural inference: learn the map from data to parameters once, on simulations.

Its modules and their main names::

    prior.Prior, Bound                 independent (log-)uniform priors; the unit scale
    parameterisations                  priors in other coordinates (range, memory, velocity…)
    designs.*Design                    samplers of locations: uniform, clustered, grid, mixed
    simulation.SimulationSpec          (θ, data) pairs from a model's ``simulate``
    store.simulate_to_zarr             the same in parallel with Dask, to Zarr, resumable
    summaries.GNNSummary, CNNSummary   DeepSets over replicates of a graph / convolutional net
    spacetime_summary.SpaceTimeGNNSummary  the same over stations and times (offset-weighted
                                       messages, missing values masked)
    spacetime_graphs.collate_space_time  space-time graphs, directional lagged correlations
    graphs.GRAPH_EXPERT, GRID_EXPERT   the named expert summaries of a batch (expert_field)
    pilot.pilot_likelihoods            expert summaries: a few fixed Vecchia profile likelihoods
    estimators.PointEstimator          neural Bayes estimators (absolute / squared error)
    estimators.QuantileEstimator       non-crossing marginal posterior quantiles
    posterior.PosteriorEstimator       neural posterior (zuko neural spline flow)
    ratio.RatioEstimator               neural likelihood ratio, calibrated, Wilks regions
    base.ESTIMATOR_KINDS               the registry of estimator kinds: estimator_kinds(),
                                       build_estimator(kind, summary, p), estimator_from_config
    training.train                     early stopping, checkpoints, on-the-fly simulation
    frozen.train_frozen_graph          ψ and head on frozen graph convolutions (fast epochs)
    batched.train_batched              fresh simulations and graphs on an accelerator (GPU)
    bundle.NeuralEstimator             network + spec + metadata; save / load / estimate
    standardise.ValueMap               values standardised (median, MAD), estimates mapped back
    bundle.load_estimator(name)        shipped estimators ("matern-irregular", …)
    spacetime_data                     tables x, y, t, z → stations × regular times; unit scales
    spacetime_estimator.SpaceTimeEstimator  space-time bundle: every parameter and derived
                                       quantity in the data's units (scaling laws)
    spacetime_recipe.advection_diffusion_spec  the advection–diffusion estimators' set-up
"""

# estimators, posterior and ratio register the estimator kinds (base.ESTIMATOR_KINDS): every
# module defining a kind is imported here, before any function of the registry can run
from .base import AmortizedEstimator, build_estimator, estimator_kinds
from .bundle import NeuralEstimator, available, load_estimator
from .designs import ClusteredDesign, GridDesign, MixedDesign, UniformDesign
from .estimators import PointEstimator, QuantileEstimator
from .posterior import PosteriorEstimator
from .prior import Bound, Prior
from .ratio import RatioEstimator
from .simulation import ModelSpec, Sample, SimulationSpec
from .spacetime_data import SpaceTimeDataset, UnitScales, space_time_datasets_from_table
from .spacetime_estimator import SpaceTimeEstimator
from .spacetime_recipe import advection_diffusion_spec
from .spacetime_summary import SpaceTimeGNNSummary
from .summaries import CNNSummary, GNNSummary
from .training import TrainingSettings, train

__all__ = [
    "AmortizedEstimator", "Bound", "CNNSummary", "ClusteredDesign", "GNNSummary", "GridDesign",
    "MixedDesign", "ModelSpec", "NeuralEstimator", "PointEstimator", "PosteriorEstimator",
    "Prior", "QuantileEstimator", "RatioEstimator", "Sample", "SimulationSpec",
    "SpaceTimeDataset", "SpaceTimeEstimator", "SpaceTimeGNNSummary", "TrainingSettings",
    "UniformDesign", "UnitScales", "advection_diffusion_spec", "available", "build_estimator",
    "estimator_kinds", "load_estimator", "space_time_datasets_from_table", "train",
]
