# Any is not dialect.
from typing import Any  # error@20: 'Any' is not dialect: every value has a precise type
