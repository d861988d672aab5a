from . import sales_sequence_guard_mixin
from . import sales_sequence
from . import sales_sequence_step
from . import sales_sequence_audience
from . import sales_sequence_enrollment
from . import sales_sequence_touch
from . import res_partner
