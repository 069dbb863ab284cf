"""An ensemble of trained classifiers as one Keras model: the mean of the members' probabilities.

Built by `python -m zoo.ensemble RUN_DIR RUN_DIR ...`; saved as the ensemble folder's
`model.keras`, so `zoo.evaluate`, `zoo.predict` and `python -m export` (averaging
inside one TFLite graph) treat it like any run.
"""

import keras


@keras.saving.register_keras_serializable(package="zoo")
class Ensemble(keras.Model):
    """Averages the float32 probabilities of `members` (models with the same input and classes)."""

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        self.members = list(members)

    def call(self, inputs, training=False):
        outputs = [keras.ops.cast(m(inputs, training=training), "float32") for m in self.members]
        return keras.ops.mean(keras.ops.stack(outputs, axis=0), axis=0)

    def get_config(self):
        members = []
        for m in self.members:
            serialized = keras.saving.serialize_keras_object(m)
            # members follow the precision policy the ensemble is loaded under, like any model's inner layers
            serialized["config"] = {k: v for k, v in serialized["config"].items() if k != "dtype"}
            members.append(serialized)
        return {**super().get_config(), "members": members}

    def export_config(self):
        """The export twin: each member's own export form (e.g. recurrent layers as loops)."""
        config = self.get_config()
        for serialized, member in zip(config["members"], self.members):
            if hasattr(member, "export_config"):
                serialized["config"] = {k: v for k, v in member.export_config().items() if k != "dtype"}
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        members = [keras.saving.deserialize_keras_object(m) for m in config.pop("members")]
        return cls(members=members, **config)
