//! A deployed stack, as the commands read it: its outputs and parameters.

use std::collections::HashMap;

use super::CommandError;

/// A deployed stack's outputs and parameters.
#[derive(Debug)]
pub struct Stack {
    pub name: String,
    pub outputs: HashMap<String, String>,
    pub parameters: HashMap<String, String>,
}

impl Stack {
    pub async fn describe(cfn: &aws_sdk_cloudformation::Client, name: &str) -> Result<Self, CommandError> {
        let described = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(CommandError::aws(format!("DescribeStacks {name}")))?;
        let stacks = described.stacks();
        Ok(Self {
            name: name.to_owned(),
            outputs: stacks
                .iter()
                .flat_map(|s| s.outputs())
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
            parameters: stacks
                .iter()
                .flat_map(|s| s.parameters())
                .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
                .collect(),
        })
    }

    pub fn output(&self, key: &str) -> Result<&str, CommandError> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CommandError::Unexpected(format!("stack {} has no output {key}", self.name)))
    }
}
