from . import sales_sequence_enroll_wizard
from . import sales_sequence_enroll_wizard_line
from . import sales_sequence_step_preview
from . import sales_sequence_import_wizard
from . import sales_sequence_import_wizard_line
from . import sales_sequence_share
from . import sales_sequence_forecast
from . import sales_sequence_test_run
