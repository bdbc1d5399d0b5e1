"""MonteCluster's Python client: `mc = montecluster.Client("http://127.0.0.1:8080")`, then `mc.submit(...)`."""
from .client import Client, Dataset, Job
from .errors import JobFailedError, MonteClusterError

__all__ = ["Client", "Dataset", "Job", "MonteClusterError", "JobFailedError"]
__version__ = "1.0.0"
