from projekt.core.errors import NotFound, ValidationFailed


class WebhookNotFound(NotFound):
    code, message = "webhook_not_found", "Webhook not found."


class DeliveryNotFound(NotFound):
    code, message = "webhook_delivery_not_found", "Webhook delivery not found."


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors={field: [message]})
