from django.utils.translation import gettext as _

from core.errors import DomainError
from core.ids import shown


class ScenarioNotFound(DomainError):
    code, status = "SCENARIO_NOT_FOUND", 404

    def __init__(self, name: object) -> None:
        shown_name = name[:64] if isinstance(name, str) else name
        super().__init__(_("Unknown scenario: %(name)s") % {"name": shown(name)}, details={"scenario_name": shown_name})
