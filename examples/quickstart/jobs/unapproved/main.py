"""A job nobody approved: it tries to copy the raw rows out. The key broker never releases the data key to it."""
import os
import shutil

shutil.copy(os.path.join(os.environ["CLEANROOM_INPUTS"], "insurer", "claims.csv"), os.path.join(os.environ["CLEANROOM_OUTPUT"], "all-rows.csv"))
