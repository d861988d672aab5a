from . import test_sequence_run
from . import test_sequence_lifecycle
from . import test_security
from . import test_concurrency
from . import test_ui_tour
from . import test_authoring
from . import test_access
