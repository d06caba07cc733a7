"""The order of the example gallery: from the first fit to the most specialised tools."""

from __future__ import annotations

ORDER = ["plot_meuse_kriging.py", "plot_posterior_sampling.py", "plot_heaton_vecchia.py",
         "plot_spde_nonstationary.py", "plot_irish_wind_forecast.py",
         "plot_advection_diffusion.py", "plot_neural_vs_mle.py", "plot_calibration.py"]


class ExampleOrder:
    """sphinx-gallery's ``within_subsection_order`` key: the listed examples first, in
    :data:`ORDER`, then any other by file name."""

    def __init__(self, src_dir: str):
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        return (ORDER.index(filename) if filename in ORDER else len(ORDER), filename)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
