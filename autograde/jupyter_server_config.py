# `make lab` loads this file (jupyter lab --config=...): formgrader's pages get a Content-Security-Policy
# that lets only formgrader's own scripts run (autograde/labcsp.py). The server process alone imports the
# course's grader package; kernels started from JupyterLab keep their own environment.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
c.ServerApp.jpserver_extensions.update({"autograde.labcsp": True})  # noqa: F821
