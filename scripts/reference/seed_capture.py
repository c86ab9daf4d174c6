"""Record the exact intermediate values the seed's calculate_adaptive_qc_thresholds computes.

Its return value only has the clamped integers; wrapping np.percentile, np.median (as crispyx.data sees
numpy) and pandas' Series.quantile during one call captures the unclamped percentiles and median.
"""
import numpy as np
import pandas as pd


class capture_intermediates:
    """Record the exact percentiles and median the seed computes (its return value only has clamped ints)."""

    def __enter__(self):
        import crispyx.data as cd
        self.cd, self.np, self.quantile = cd, cd.np, pd.Series.quantile
        seen = self.seen = {}
        real_np, real_quantile = self.np, self.quantile

        class NpProxy:
            def __getattr__(self, name):
                return getattr(real_np, name)

            def percentile(self, a, q, *args, **kw):
                r = real_np.percentile(a, q, *args, **kw)
                seen["gene_percentile"] = float(r)
                return r

            def median(self, a, *args, **kw):
                r = real_np.median(a, *args, **kw)
                seen["median_genes"] = float(r)
                seen["n_sampled"] = int(np.asarray(a).shape[0])
                return r

        def quantile(series, q=0.5, *args, **kw):
            r = real_quantile(series, q, *args, **kw)
            seen["perturbation_percentile"] = float(r)
            return r

        cd.np = NpProxy()
        pd.Series.quantile = quantile
        return seen

    def __exit__(self, *exc):
        self.cd.np = self.np
        pd.Series.quantile = self.quantile
