from . import sales_sequence_enroll_wizard
from . import sales_sequence_enroll_wizard_line
from . import sales_sequence_step_preview
from . import sales_sequence_import_wizard
from . import sales_sequence_import_wizard_line
