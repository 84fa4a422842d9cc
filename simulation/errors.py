from django.utils.translation import gettext as _

from core.errors import DomainError


class ScenarioNotFound(DomainError):
    code, status = "SCENARIO_NOT_FOUND", 404

    def __init__(self, name: object) -> None:
        super().__init__(_("Unknown scenario: %(name)s") % {"name": name}, details={"scenario_name": name})
